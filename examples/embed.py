"""Embedding jafhost in an agent program: the JAF plugin page's ``main()``, for real.

The page creates a plugin manager, loads an email plugin made with its configuration,
activates it, calls its ``send_email`` tool, looks its agent up, emits ``user_signup``
(which sends a welcome email) and deactivates everything. On jafhost the same flow is:
a ``Host``, ``register`` of the plugin object (a class-based plugin, with the permission
it needs granted explicitly), ``activate``, ``call``, ``agent``, ``emit``, and leaving
``async with``. Messages really go to the SMTP server given on the command line.

Usage: python examples/embed.py --smtp-port 8025 [--smtp-host 127.0.0.1] [--home DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from jaf_plugin_email.config import EmailConfig
from jaf_plugin_email.plugin import EmailPlugin

from jafhost import Host


async def main(smtp_host: str, smtp_port: int, home: Path) -> int:
    config = EmailConfig(
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        from_address="shop@example.com",
        use_tls=False,  # a local test relay; real servers use STARTTLS (the default)
        helo_name="example.local",
    )
    host = Host(home, only=[])  # nothing installed: only what this program registers
    host.register(
        EmailPlugin(config=config),
        name="email",
        version="1.0.0",
        permissions=[f"net:{smtp_host}:{smtp_port}"],
        grant=True,  # the embedder grants what it registers, explicitly
    )
    async with host:  # activates; deactivates on exit, also on errors
        sent = await host.call(
            "email.send_email",
            {
                "to": "user@example.com",
                "subject": "Test Email",
                "body": "This is a test email from the jafhost plugin host",
            },
        )
        print("send_email:", json.dumps(sent.to_json()))

        agent = host.agent("email")
        print("agent:", agent.full_name, "may use", ", ".join(agent.spec.tools))

        report = await host.emit(
            "user.signup", {"email": "newuser@example.com", "name": "New User"}
        )
        print("user.signup:", json.dumps(report.to_json()))
        return 0 if sent.ok and report.ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smtp-host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--home", type=Path, default=None)
    options = parser.parse_args()
    home = options.home or Path(tempfile.mkdtemp(prefix="jafhost-embed-"))
    raise SystemExit(asyncio.run(main(options.smtp_host, options.smtp_port, home)))
