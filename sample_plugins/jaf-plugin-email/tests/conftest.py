"""A real SMTP server on 127.0.0.1 (aiosmtpd, in this process, on an ephemeral port) that
records what it receives, and a factory for a jafhost test host running the email plugin
against it.

Needs the distribution installed (``pip install -e sample_plugins/jaf-plugin-email``) and
``aiosmtpd``; the ``jafhost_factory`` fixture comes from jafhost's pytest plugin.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

PASSWORD_VARIABLE = "JAFHOST_EMAIL__PASSWORD"


def pytest_configure(config: pytest.Config) -> None:
    # aiosmtpd warns, rightly, when a server takes AUTH without TLS; the test server does
    # on purpose (127.0.0.1 only, no certificates to manage in tests)
    config.addinivalue_line(
        "filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning"
    )


SENDER = "robot@example.com"


@dataclass
class Received:
    """One message as the server got it: the envelope and the parsed content."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    authenticated: bool

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """The aiosmtpd handler: refuses recipients whose local part starts with "nobody",
    accepts everything else and keeps each message."""

    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower().startswith("nobody"):
            return "550 5.1.1 <" + address + ">: no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
                bool(session.authenticated),
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class EphemeralController(Controller):
    """aiosmtpd's threaded controller, bound to port 0: the kernel picks a free port,
    which is read back before the controller's own readiness check connects to it."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@dataclass
class SmtpServer:
    controller: EphemeralController
    recorder: Recorder
    credentials: tuple[str, str] | None = None

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    @property
    def grant(self) -> str:
        return f"net:127.0.0.1:{self.port}"


def _start(credentials: tuple[str, str] | None = None) -> SmtpServer:
    recorder = Recorder()
    kwargs: dict[str, Any] = {}
    if credentials is not None:
        user, password = credentials

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
        ) -> AuthResult:
            if not isinstance(auth_data, LoginPassword):
                return AuthResult(success=False, handled=False)
            login, given = auth_data.login.decode(), auth_data.password.decode()
            recorder.logins.append((login, given))
            return AuthResult(success=(login, given) == (user, password), handled=False)

        # the test server speaks no TLS, so allow AUTH in the clear (on loopback only)
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    controller = EphemeralController(
        recorder, hostname="127.0.0.1", port=0, server_hostname="smtp.test.local", **kwargs
    )
    controller.start()
    return SmtpServer(controller, recorder, credentials)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server without authentication on 127.0.0.1 (stopped after the test)."""
    server = _start()
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpServer]:
    """An SMTP server requiring a login (``credentials``: user and password)."""
    server = _start(("robot", "s3cr3t-Pa55-word-for-tests"))
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No JAFHOST_EMAIL__* variable of the developer's leaks into a test."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("JAFHOST_EMAIL__"):
            monkeypatch.delenv(name)


EmailHostFactory = Callable[..., Any]


@pytest.fixture
def email_host(jafhost_factory: Callable[..., Any], smtp_server: SmtpServer) -> EmailHostFactory:
    """``email_host(grants=[...], server=..., **config)``: a running test host with the
    email plugin pointed at the test server (no TLS: the test server has none) and, by
    default, granted exactly that server and the password variable."""

    def make(
        *, grants: list[str] | None = None, server: SmtpServer | None = None, **config: Any
    ) -> Any:
        target = server or smtp_server
        table = {
            "smtp_port": target.port,
            "use_tls": False,
            "from_address": SENDER,
            "from_name": "Robot",
            **config,
        }
        allowed = grants if grants is not None else [target.grant, f"env:{PASSWORD_VARIABLE}"]
        return jafhost_factory(
            "email", grants={"email": allowed}, config={"plugins": {"email": table}}
        )

    return make
