"""jaf-plugin-email: a jafhost plugin that sends email through an SMTP server.

``plugin.EmailPlugin`` is the class-based plugin (the entry point) with its tools, the
``EmailAgent`` and the ``user.signup`` handler; ``config``, ``addresses``, ``templates``
and ``sender`` hold the parts, importable and testable without a host.
"""

__version__ = "1.0.0"
