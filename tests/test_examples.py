"""``examples/embed.py`` run as a program against a real SMTP server on 127.0.0.1.

Needs the email sample plugin and aiosmtpd (the ``samples`` nox session installs both).
"""

from __future__ import annotations

import subprocess
import sys
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("jaf_plugin_email")
aiosmtpd = pytest.importorskip("aiosmtpd.controller")

ROOT = Path(__file__).resolve().parents[1]


class EphemeralController(aiosmtpd.Controller):  # type: ignore[misc]
    """aiosmtpd's controller on port 0: its readiness check must use the real port."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


def test_embed_example_sends_through_a_local_smtp_server(tmp_path: Path) -> None:
    inbox = Inbox()
    controller = EphemeralController(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        port = controller.port
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples" / "embed.py"),
                "--smtp-port",
                str(port),
                "--home",
                str(tmp_path / "home"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        controller.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agent: email.email may use email.*" in result.stdout
    recipients = [rcpt for rcpt, _ in inbox.messages]
    assert recipients == [["user@example.com"], ["newuser@example.com"]]
    test_mail, welcome = (message for _, message in inbox.messages)
    assert test_mail["Subject"] == "Test Email"
    assert "New User" in welcome.as_string()
