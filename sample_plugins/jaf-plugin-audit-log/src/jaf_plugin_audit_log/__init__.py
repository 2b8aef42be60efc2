"""jaf-plugin-audit-log: a JSON-lines audit trail of tool calls and host events.

``trail`` holds the file logic (append, flush, rotate, read back) and the redaction of
secrets, and knows nothing about jafhost; ``plugin`` holds the plugin class (the entry
point): the ``jaf_tool_call`` wrapper, the event handlers and the ``recent`` tool.
"""

from jaf_plugin_audit_log.trail import AuditTrail, Redactor

__all__ = ["AuditTrail", "Redactor"]
