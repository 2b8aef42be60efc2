"""jaf-plugin-http: a jafhost plugin that fetches URLs with size and time limits.

``plugin`` holds the hook implementations, the configuration model and the ``fetch``
tool (the entry point); ``client`` does the HTTP work with the standard library only.
Which hosts and ports the plugin may reach is the user's ``net:`` grants, enforced by
jafhost's guard; the plugin enforces the size and time limits itself.
"""
