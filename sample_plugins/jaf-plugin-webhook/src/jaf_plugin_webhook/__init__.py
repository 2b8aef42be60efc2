"""jaf-plugin-webhook: post Slack-compatible messages, and forwarded events, to a webhook.

``plugin`` holds the hook implementations (the entry point is its ``WebhookPlugin``
class); ``client`` holds the HTTP posting, importable and testable without a host.
"""
