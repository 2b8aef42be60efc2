"""The email plugin's configuration: ``config.toml [plugins.email]`` and the environment.

The host validates the table against ``EmailConfig`` before the plugin starts, with
``JAFHOST_EMAIL__<FIELD>`` environment variables on top (``JAFHOST_EMAIL__SMTP_PORT=2525``).
``password`` is a ``SecretStr``: the host takes it only from ``JAFHOST_EMAIL__PASSWORD``,
refuses it in ``config.toml`` and never prints it.
"""

import copy
import fnmatch
import ipaddress
import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    create_model,
    field_validator,
    model_validator,
)

PASSWORD_VARIABLE = "JAFHOST_EMAIL__PASSWORD"
"""Where the SMTP password comes from (the host's override for the ``password`` field)."""

TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
HOST_NAME = re.compile(r"^[A-Za-z0-9_.:\[\]-]+$")


class EmailConfig(BaseModel):
    """``[plugins.email]``; every field may also come from ``JAFHOST_EMAIL__<FIELD>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_address: EmailStr = Field(
        description="The sender address (the From header and the SMTP envelope sender)."
    )
    from_name: str | None = Field(default=None, description="A display name for the From header.")
    smtp_host: str = Field(default="127.0.0.1", description="The SMTP server's name or IP address.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="The SMTP server's port.")
    username: str | None = Field(
        default=None, description="Log in as this user (needs the password)."
    )
    password: SecretStr | None = Field(
        default=None,
        description=f"The SMTP password: from the environment variable {PASSWORD_VARIABLE} "
        "only, never from config.toml.",
    )
    use_tls: bool = Field(
        default=True,
        description="Upgrade the connection with STARTTLS (certificate verified) before "
        "logging in or sending; turn off only for a local relay.",
    )
    timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds per SMTP operation.")
    helo_name: str | None = Field(
        default=None, description="The name sent in EHLO (default: this machine's host name)."
    )
    templates_dir: Path | None = Field(
        default=None,
        description="A folder of your own templates (NAME.subject.txt, NAME.txt, NAME.html), "
        "searched before the data folder's templates/ and the built-in ones; outside the "
        "plugin's data folder it needs `jafhost grant email read:DIR`.",
    )
    welcome_template: str = Field(
        default="welcome", description="The template the user.signup handler sends."
    )
    allowed_recipients: list[str] = Field(
        default=[],
        description="If set, only addresses matching one of these patterns may receive mail "
        "(shell-style, case-insensitive: '*@example.com').",
    )
    max_recipients: int = Field(
        default=50, ge=1, le=1000, description="Recipients per message, at most."
    )

    @field_validator("smtp_host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if not value or not HOST_NAME.fullmatch(value):
            raise ValueError("must be a host name or an IP address")
        return value

    @field_validator("helo_name")
    @classmethod
    def _helo(cls, value: str | None) -> str | None:
        if value is not None and not HOST_NAME.fullmatch(value):
            raise ValueError("must be a host name or an address literal, without spaces")
        return value

    @field_validator("from_name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and ("\n" in value or "\r" in value):
            raise ValueError("must be one line")
        return value

    @field_validator("templates_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("welcome_template")
    @classmethod
    def _template_name(cls, value: str) -> str:
        if not TEMPLATE_NAME.fullmatch(value):
            raise ValueError("a template name is letters, digits, '_' and '-'")
        return value

    @field_validator("allowed_recipients")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return [pattern.strip().lower() for pattern in value if pattern.strip()]

    @model_validator(mode="after")
    def _credentials(self) -> "EmailConfig":
        if self.username and self.password is None:
            raise ValueError(
                f"username is set but there is no password: set {PASSWORD_VARIABLE} in the "
                "environment"
            )
        if self.password is not None and not self.username:
            raise ValueError(f"{PASSWORD_VARIABLE} is set but username is not")
        return self

    # -- derived ------------------------------------------------------------------------

    @property
    def server(self) -> str:
        """``host:port`` as the ``net`` permission names it."""
        host = f"[{self.smtp_host}]" if ":" in self.smtp_host else self.smtp_host
        return f"{host}:{self.smtp_port}"

    @property
    def net_permission(self) -> str:
        """The grant this configuration needs: ``net:smtp.example.com:587``."""
        return f"net:{self.server}"

    @property
    def loopback(self) -> bool:
        """Whether the server is this machine (where a plain connection stays local)."""
        host = self.smtp_host.strip("[]")
        if host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def may_receive(self, address: str) -> bool:
        """Whether ``allowed_recipients`` lets ``address`` receive mail."""
        if not self.allowed_recipients:
            return True
        lowered = address.lower()
        return any(fnmatch.fnmatchcase(lowered, p) for p in self.allowed_recipients)


def with_defaults(config: EmailConfig) -> type[EmailConfig]:
    """A subclass of ``EmailConfig`` whose defaults are ``config``'s values.

    For a plugin object made with a configuration (``EmailPlugin(config=...)``) and
    registered in a host: an empty ``[plugins.email]`` validates to that configuration,
    and what the file or the environment sets still wins, field by field.
    """
    fields: dict[str, Any] = {}
    for name, info in EmailConfig.model_fields.items():
        field = copy.copy(info)
        field.default = getattr(config, name)
        field.default_factory = None
        fields[name] = (info.annotation, field)
    model: type[EmailConfig] = create_model(
        "EmailConfig", __base__=EmailConfig, __module__=__name__, **fields
    )
    model.__doc__ = EmailConfig.__doc__
    return model
