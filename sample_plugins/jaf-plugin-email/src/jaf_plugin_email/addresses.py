"""Recipient addresses: parse, validate one by one, and report every bad one by name.

An address is ``ann@example.com`` or ``Ann Example <ann@example.com>``. Validation uses
``email-validator`` (syntax and domain rules, no DNS lookup: the plugin may only talk
to its SMTP server), so a typo is caught before anything is sent and the error names
each address at fault with the reason, for an agent to correct.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.headerregistry import Address as HeaderAddress

from email_validator import EmailNotValidError, validate_email

_NAMED = re.compile(r"^\s*(?P<name>[^<>]*?)\s*<(?P<address>[^<>]*)>\s*$")


class EmailError(ValueError):
    """A problem the caller can fix (``code`` is the jafhost error code to report)."""

    code = "invalid_arguments"


class AddressError(EmailError):
    """One or more addresses are invalid; ``invalid`` lists (field, address, reason)."""

    def __init__(self, invalid: list[tuple[str, str, str]]) -> None:
        self.invalid = invalid
        listed = "; ".join(f"{field} {address!r}: {reason}" for field, address, reason in invalid)
        count = len(invalid)
        super().__init__(f"{count} invalid address{'es' if count > 1 else ''}: {listed}")


class RecipientNotAllowed(EmailError):
    """The configuration's ``allowed_recipients`` does not cover an address."""

    code = "permission_denied"


@dataclass(frozen=True)
class Address:
    """A validated address: ``email`` normalized (domain lower-cased), ``name`` optional."""

    email: str
    name: str = ""

    @property
    def header(self) -> HeaderAddress:
        local, _, domain = self.email.rpartition("@")
        return HeaderAddress(display_name=self.name, username=local, domain=domain)

    def __str__(self) -> str:
        return str(self.header)


def parse_address(text: str) -> Address:
    """``text`` as an ``Address``; ``ValueError`` with the reason if it is not one."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    if "\r" in text or "\n" in text:
        raise ValueError("contains a line break")
    name = ""
    address = text.strip()
    match = _NAMED.fullmatch(text)
    if match:
        name = match["name"].strip().strip('"').strip()
        address = match["address"].strip()
    if not address:
        raise ValueError("empty")
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return Address(checked.normalized, name)


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """One address or a list of them (None: none)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def parse_recipients(**fields: str | Sequence[str] | None) -> dict[str, list[Address]]:
    """Validate every address of every field (``to=..., cc=..., bcc=...``).

    Returns the addresses per field; raises one ``AddressError`` naming *each* invalid
    address (not just the first), so a caller can fix them all at once.
    """
    parsed: dict[str, list[Address]] = {}
    invalid: list[tuple[str, str, str]] = []
    for field, value in fields.items():
        parsed[field] = []
        for text in as_list(value):
            try:
                parsed[field].append(parse_address(text))
            except ValueError as exc:
                invalid.append((field, str(text), str(exc)))
    if invalid:
        raise AddressError(invalid)
    return parsed


def unique(addresses: Iterable[Address]) -> list[str]:
    """The envelope recipients: each address once (case-insensitively), in order."""
    seen: set[str] = set()
    result: list[str] = []
    for address in addresses:
        key = address.email.lower()
        if key not in seen:
            seen.add(key)
            result.append(address.email)
    return result
