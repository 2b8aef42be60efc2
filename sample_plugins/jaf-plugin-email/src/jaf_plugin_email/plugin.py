"""``EmailPlugin``: the class-based plugin (entry point ``email``), its tools, its agent
and its ``user.signup`` handler.

Written in the JAF style on ``jafhost.Plugin``: the base class implements
jafhost's hooks and forwards each to the method named on the JAF plugin page
(``initialize``, ``get_tools``, ``get_agents``, ``get_event_handlers``...). The host
instantiates the class with no arguments and hands it the validated configuration;
a program embedding jafhost may instead register an instance made with a configuration,
``EmailPlugin(config=EmailConfig(...))``, which is used where the host has none.

No ``from __future__ import annotations`` here: the host reads the tools' annotations
at run time to build their schemas.
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from jafhost import AgentSpec, Event, Plugin, PluginMetadata, ToolError, hookimpl
from pydantic import Field

from jaf_plugin_email import __version__
from jaf_plugin_email.addresses import (
    Address,
    EmailError,
    RecipientNotAllowed,
    parse_address,
    parse_recipients,
)
from jaf_plugin_email.config import EmailConfig, with_defaults
from jaf_plugin_email.sender import Outgoing, deliver
from jaf_plugin_email.templates import Rendered, Templates

Recipients = str | list[str]
"""One address or a list; each ``ann@example.com`` or ``Ann <ann@example.com>``."""
Subject = Annotated[str, Field(min_length=1, max_length=900)]

INSTRUCTIONS = """\
You write and send email for the user with the email tools.

- Send only to addresses the user gave you or that appear in the conversation; never \
guess or invent an address. If a tool reports an invalid address, ask the user for \
the right one instead of retrying with a variation.
- Prefer a template when one fits (email.list_templates shows them and the variables \
each needs); give every variable it needs.
- Keep subjects short and specific; write the body in plain text, adding `html` only \
when formatting matters.
- Put people who should not see each other's addresses in `bcc`.
- After sending, tell the user who received the message and report any refused \
recipient with the server's reason. Never claim a message was sent when the tool \
returned an error.
"""

EmailAgent = AgentSpec(
    name="email",
    instructions=INSTRUCTIONS,
    tools=("email.*",),
    description="Writes and sends email through the configured SMTP server.",
)
"""The email agent (``email.email``); it may use this plugin's tools only."""


def _tool_error(exc: EmailError) -> ToolError:
    return ToolError(str(exc), code=exc.code)


class EmailPlugin(Plugin):
    """Send email through one SMTP server: tools, an agent and a welcome-mail handler."""

    metadata = PluginMetadata(
        name="email",
        version=__version__,
        description="Send email (plain, HTML, templated) through an SMTP server.",
        author="jafhost sample plugins",
    )
    config_model = EmailConfig

    def __init__(self, config: EmailConfig | Mapping[str, Any] | None = None) -> None:
        if config is not None and not isinstance(config, EmailConfig):
            config = EmailConfig.model_validate(dict(config))
        self._given: EmailConfig | None = config
        self._templates: Templates | None = None

    # -- lifecycle ------------------------------------------------------------------

    @hookimpl
    def jaf_config_schema(self) -> type[EmailConfig]:
        """``EmailConfig``; for an instance made with a configuration, a variant whose
        defaults are that configuration (so ``[plugins.email]`` may be empty)."""
        return EmailConfig if self._given is None else with_defaults(self._given)

    def initialize(self, context: Any) -> bool:
        if self.config is None:
            self.config = self._given
        if not isinstance(self.config, EmailConfig):
            raise ValueError(
                "no configuration: set from_address (and the server) in config.toml "
                "[plugins.email], or pass config= to EmailPlugin"
            )
        self._templates = Templates.for_plugin(self.config.templates_dir, context.data_dir)
        context.logger.info(
            "email: sending through %s as %s (STARTTLS %s, login %s)",
            self.config.server,
            self.config.from_address,
            "on" if self.config.use_tls else "off",
            "as " + self.config.username if self.config.username else "off",
        )
        return True

    def deactivate(self) -> bool:
        self._templates = None
        return True

    # -- contributions --------------------------------------------------------------

    def get_tools(self) -> Sequence[Callable[..., Any]]:
        return [self.send_email, self.send_template_email, self.list_templates]

    def get_agents(self) -> Sequence[AgentSpec]:
        name = self.context.name if self.context is not None else "email"
        return [dataclasses.replace(EmailAgent, tools=(f"{name}.*",))]

    def get_event_handlers(self) -> Mapping[str, Callable[..., Any]]:
        return {"user.signup": self.on_user_signup}

    # -- helpers ----------------------------------------------------------------------

    @property
    def settings(self) -> EmailConfig:
        """The configuration in force (once initialized)."""
        config = self.config if self.config is not None else self._given
        if not isinstance(config, EmailConfig):
            raise RuntimeError("the email plugin is not initialized")
        return config

    @property
    def templates(self) -> Templates:
        if self._templates is None:
            data_dir = self.context.data_dir if self.context is not None else None
            self._templates = Templates.for_plugin(self.settings.templates_dir, data_dir)
        return self._templates

    def _sender(self) -> Address:
        config = self.settings
        return Address(str(config.from_address), config.from_name or "")

    def _send(
        self,
        recipients: Mapping[str, list[Address]],
        subject: str,
        text: str,
        html: str | None,
    ) -> dict[str, Any]:
        """Check the recipients against the configuration's limits, then send."""
        config = self.settings
        if not recipients["to"]:
            raise EmailError("to: at least one recipient is needed")
        outgoing = Outgoing(
            sender=self._sender(),
            to=recipients["to"],
            cc=recipients["cc"],
            bcc=recipients["bcc"],
            subject=subject,
            text=text,
            html=html,
        )
        envelope = outgoing.recipients
        if len(envelope) > config.max_recipients:
            raise EmailError(
                f"{len(envelope)} recipients; at most {config.max_recipients} per message "
                "(max_recipients)"
            )
        refused = [r for r in envelope if not config.may_receive(r)]
        if refused:
            raise RecipientNotAllowed(
                "not allowed by allowed_recipients ("
                + ", ".join(config.allowed_recipients)
                + "): "
                + ", ".join(refused)
            )
        return deliver(config, outgoing).to_json()

    def render(self, template: str, variables: Mapping[str, Any] | None = None) -> Rendered:
        """Render a template (subject, text, HTML) without sending it."""
        return self.templates.render(template, variables)

    # -- tools ------------------------------------------------------------------------

    def send_email(
        self,
        to: Recipients,
        subject: Subject,
        body: str,
        cc: Recipients | None = None,
        bcc: Recipients | None = None,
        html: str | None = None,
    ) -> dict[str, Any]:
        """Send an email through the configured SMTP server.

        Every address is checked first; the error names each invalid one. Returns the
        message id, the recipients the server accepted and those it refused (with its
        reply).

        Args:
            to: the recipients, one address or a list; each "ann@example.com" or
                "Ann Example <ann@example.com>".
            subject: the subject line (one line).
            body: the plain-text body.
            cc: visible copies, one address or a list.
            bcc: hidden copies: they receive the message but appear in no header.
            html: an optional HTML version of the body, sent as an alternative.
        """
        if "\n" in subject or "\r" in subject:
            raise ToolError("subject: must be one line", code="invalid_arguments")
        try:
            recipients = parse_recipients(to=to, cc=cc, bcc=bcc)
            return self._send(recipients, subject, body, html)
        except EmailError as exc:
            raise _tool_error(exc) from None

    def send_template_email(
        self,
        to: Recipients,
        template: str,
        variables: dict[str, Any] | None = None,
        cc: Recipients | None = None,
        bcc: Recipients | None = None,
    ) -> dict[str, Any]:
        """Render a template (subject, text and HTML parts) and send it.

        A variable the template uses but that is missing from `variables` is an error
        naming it. Returns what send_email returns, plus the template's name and subject.

        Args:
            to: the recipients, one address or a list.
            template: the template's name (see list_templates), e.g. "welcome".
            variables: the values the template uses, e.g. {"name": "Ann"}.
            cc: visible copies, one address or a list.
            bcc: hidden copies, one address or a list.
        """
        try:
            recipients = parse_recipients(to=to, cc=cc, bcc=bcc)
            rendered = self.render(template, variables)
            sent = self._send(recipients, rendered.subject, rendered.text, rendered.html)
        except EmailError as exc:
            raise _tool_error(exc) from None
        return {**sent, "template": rendered.template, "subject": rendered.subject}

    def list_templates(self) -> list[dict[str, Any]]:
        """List the email templates: name, source, whether it has HTML, its variables."""
        return self.templates.listing()

    # -- events -----------------------------------------------------------------------

    def on_user_signup(self, event: Event) -> dict[str, Any]:
        """``user.signup``: send the welcome template to ``data.email``, greeting
        ``data.name`` (every other field of the data is a template variable too)."""
        data = event.data if isinstance(event.data, Mapping) else {}
        email, name = data.get("email"), data.get("name")
        if not isinstance(email, str) or not email.strip():
            raise ValueError("user.signup: the event data needs 'email', the new user's address")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("user.signup: the event data needs 'name', the new user's name")
        try:
            recipient = parse_address(email)
        except ValueError as exc:
            raise ValueError(f"user.signup: invalid email {email!r}: {exc}") from None
        variables = {k: v for k, v in data.items() if isinstance(k, str) and k.isidentifier()}
        rendered = self.render(self.settings.welcome_template, variables)
        to = Address(recipient.email, " ".join(name.split()))
        recipients = {"to": [to], "cc": [], "bcc": []}
        sent = self._send(recipients, rendered.subject, rendered.text, rendered.html)
        if self.context is not None:
            self.context.logger.info(
                "email: welcome message %s sent to %s", sent["message_id"], recipient.email
            )
        return sent
