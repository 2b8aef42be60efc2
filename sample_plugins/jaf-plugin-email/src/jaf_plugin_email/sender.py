"""Build a MIME message and hand it to the configured SMTP server with ``smtplib``.

One connection per message: connect, EHLO, STARTTLS (when ``use_tls``), log in (when a
username is set), send, QUIT. The plugin's ``net`` grant covers exactly the configured
``host:port``; a connection anywhere else is refused by jafhost's guard with a
``PermissionDenied`` that is passed on untouched, so the caller sees which grant is
missing. Nothing here looks up other names: the EHLO name and the Message-ID domain are
set explicitly, because ``smtplib`` and ``email.utils`` would otherwise resolve this
machine's fully qualified name.

The password never appears in what this module returns or raises: server replies and
exception texts are scrubbed of it (and of its base64 forms) before they are reported.
"""

import base64
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from jafhost import PermissionDenied

from jaf_plugin_email.addresses import Address, EmailError, unique
from jaf_plugin_email.config import EmailConfig


class SendError(EmailError):
    """The server could not be reached or refused the message."""

    code = "tool_error"


@dataclass(frozen=True)
class Outgoing:
    """A message to send: the headers' addresses, subject and bodies."""

    sender: Address
    to: Sequence[Address]
    subject: str
    text: str
    cc: Sequence[Address] = ()
    bcc: Sequence[Address] = ()
    html: str | None = None
    reply_to: Address | None = None

    @property
    def recipients(self) -> list[str]:
        """The envelope recipients: To, Cc and Bcc, each once."""
        return unique([*self.to, *self.cc, *self.bcc])


@dataclass
class Sent:
    """What the server accepted; returned by the tools as JSON."""

    message_id: str
    sender: str
    accepted: list[str]
    refused: dict[str, str] = field(default_factory=dict)
    server: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "from": self.sender,
            "accepted": self.accepted,
            "refused": self.refused,
            "server": self.server,
        }


def build_message(outgoing: Outgoing) -> EmailMessage:
    """The MIME message: text/plain, plus a text/html alternative when ``html`` is given.

    Bcc recipients are not in any header: they exist only in the SMTP envelope.
    """
    if "\r" in outgoing.subject or "\n" in outgoing.subject:
        raise EmailError("subject: must be one line")
    message = EmailMessage()
    message["From"] = outgoing.sender.header
    message["To"] = [a.header for a in outgoing.to]
    if outgoing.cc:
        message["Cc"] = [a.header for a in outgoing.cc]
    if outgoing.reply_to is not None:
        message["Reply-To"] = outgoing.reply_to.header
    message["Subject"] = outgoing.subject
    message["Date"] = formatdate(localtime=True)
    domain = outgoing.sender.email.rpartition("@")[2]
    message["Message-ID"] = make_msgid(domain=domain)  # a domain: no lookup of this host
    message.set_content(outgoing.text)
    if outgoing.html is not None:
        message.add_alternative(outgoing.html, subtype="html")
    return message


def _secrets(config: EmailConfig) -> list[str]:
    if config.password is None:
        return []
    password = config.password.get_secret_value()
    if not password:
        return []
    forms = [password]
    user = config.username or ""
    for raw in (password, f"\0{user}\0{password}", f"{user} {password}"):
        forms.append(base64.b64encode(raw.encode()).decode())
    return forms


def scrub(text: str, config: EmailConfig) -> str:
    """``text`` with the password (and its base64 forms) replaced by ``**********``."""
    for secret in _secrets(config):
        text = text.replace(secret, "**********")
    return text


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}".strip()


def helo_name(config: EmailConfig) -> str:
    """The EHLO name: configured, else this machine's host name (no DNS lookup)."""
    if config.helo_name:
        return config.helo_name
    name = socket.gethostname()
    return name if name and " " not in name else "localhost"


def deliver(config: EmailConfig, outgoing: Outgoing) -> Sent:
    """Send ``outgoing`` through the configured server; ``SendError`` if it fails.

    ``PermissionDenied`` (the ``net`` grant does not cover the server) is raised as is.
    """
    message = build_message(outgoing)
    recipients = outgoing.recipients
    where = config.server
    try:
        return _deliver(config, message, outgoing.sender.email, recipients)
    except PermissionDenied:
        raise
    except EmailError as exc:
        raise type(exc)(scrub(str(exc), config)) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = {rcpt: _reply(code, msg) for rcpt, (code, msg) in exc.recipients.items()}
        listed = "; ".join(f"{rcpt}: {reply}" for rcpt, reply in refused.items())
        raise SendError(scrub(f"{where} refused every recipient: {listed}", config)) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(
            scrub(
                f"{where}: logging in as {config.username!r} failed: "
                f"{_reply(exc.smtp_code, exc.smtp_error)}",
                config,
            )
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise SendError(
            scrub(
                f"{where} refused the sender {exc.sender}: {_reply(exc.smtp_code, exc.smtp_error)}",
                config,
            )
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise SendError(
            scrub(f"{where}: {_reply(exc.smtp_code, exc.smtp_error)}", config)
        ) from None
    except ssl.SSLError as exc:
        raise SendError(
            scrub(f"{where}: TLS failed ({exc}); is use_tls right for this server?", config)
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        kind = type(exc).__name__
        raise SendError(scrub(f"cannot send through {where}: {kind}: {exc}", config)) from None


def _deliver(
    config: EmailConfig, message: EmailMessage, sender: str, recipients: list[str]
) -> Sent:
    with smtplib.SMTP(
        config.smtp_host,
        config.smtp_port,
        local_hostname=helo_name(config),
        timeout=config.timeout,
    ) as smtp:
        smtp.ehlo()
        if config.use_tls:
            if not smtp.has_extn("starttls"):
                raise SendError(
                    f"{config.server} does not offer STARTTLS; set use_tls = false only if "
                    "the server is a trusted local relay"
                )
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if config.username:
            if not config.use_tls and not config.loopback:
                raise SendError(
                    f"refusing to send the password to {config.server} without TLS: "
                    "set use_tls = true"
                )
            assert config.password is not None  # the config model insists on it
            smtp.login(config.username, config.password.get_secret_value())
        refused_raw = smtp.send_message(message, from_addr=sender, to_addrs=recipients)
    refused = {rcpt: _reply(code, msg) for rcpt, (code, msg) in refused_raw.items()}
    accepted = [r for r in recipients if r not in refused]
    return Sent(str(message["Message-ID"]), sender, accepted, refused, config.server)
