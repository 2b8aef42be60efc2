"""The email plugin's parts without a host or a network: addresses, templates, the MIME
message, secret scrubbing and the configuration model."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from jaf_plugin_email.addresses import (
    Address,
    AddressError,
    parse_address,
    parse_recipients,
    unique,
)
from jaf_plugin_email.config import EmailConfig
from jaf_plugin_email.plugin import EmailAgent, EmailPlugin
from jaf_plugin_email.sender import Outgoing, build_message, scrub
from jaf_plugin_email.templates import BUILTIN_DIR, Source, TemplateProblem, Templates

# -- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "email", "name"),
    [
        ("ann@example.com", "ann@example.com", ""),
        ("  Ann@EXAMPLE.com ", "Ann@example.com", ""),
        ("Ann Example <ann@example.com>", "ann@example.com", "Ann Example"),
        ('"Doe, Jane" <jane@example.com>', "jane@example.com", "Doe, Jane"),
        ("<bob@example.org>", "bob@example.org", ""),
        ("jürgen@exämple.de", "jürgen@exämple.de", ""),
    ],
)
def test_parse_address(text: str, email: str, name: str) -> None:
    assert parse_address(text) == Address(email, name)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("plain", "@-sign"),
        ("a@b@example.com", "invalid characters"),
        ("x@localhost", "period"),
        ("ann@example.com\nBcc: eve@example.com", "line break"),
        ("Ann <>", "empty"),
    ],
)
def test_parse_address_refuses(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_address(text)


def test_every_invalid_address_is_named_with_its_field() -> None:
    with pytest.raises(AddressError) as caught:
        parse_recipients(to=["ok@example.com", "nope"], cc="x@@example.com", bcc=None)
    named = [(field, address) for field, address, _ in caught.value.invalid]
    assert named == [("to", "nope"), ("cc", "x@@example.com")]
    assert str(caught.value).startswith("2 invalid addresses: to 'nope': ")
    parsed = parse_recipients(to="a@example.com", cc=None, bcc=["b@example.com"])
    assert parsed == {
        "to": [Address("a@example.com")],
        "cc": [],
        "bcc": [Address("b@example.com")],
    }


def test_envelope_recipients_are_unique() -> None:
    addresses = [Address("a@example.com"), Address("A@example.com", "A"), Address("b@example.com")]
    assert unique(addresses) == ["a@example.com", "b@example.com"]


# -- templates ---------------------------------------------------------------------------


def write(folder: Path, name: str, subject: str, text: str, html: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.subject.txt").write_text(subject)
    (folder / f"{name}.txt").write_text(text)
    if html is not None:
        (folder / f"{name}.html").write_text(html)


def test_the_built_in_welcome_template() -> None:
    templates = Templates.for_plugin(None, None)
    rendered = templates.render("welcome", {"name": "Ann", "email": "ann@example.com"})
    assert rendered.subject == "Welcome, Ann!"
    assert rendered.text.startswith("Hello Ann,\n")
    assert rendered.html is not None and "<strong>ann@example.com</strong>" in rendered.html
    assert templates.names() == ["welcome"]
    assert (BUILTIN_DIR / "welcome.subject.txt").is_file()


def test_strict_undefined_names_the_missing_variable() -> None:
    templates = Templates.for_plugin(None, None)
    with pytest.raises(TemplateProblem) as caught:
        templates.render("welcome", {"email": "ann@example.com"})
    message = str(caught.value)
    assert "template 'welcome' (welcome.subject.txt)" in message
    assert "'name' is undefined" in message and "not given: name" in message
    with pytest.raises(TemplateProblem, match="not given: email, name"):
        templates.render("welcome", {})


def test_the_sandbox_refuses_python_internals(tmp_path: Path) -> None:
    write(tmp_path, "evil", "x", "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    write(tmp_path, "mutate", "x", "{{ items.append(1) }}")
    templates = Templates([Source(tmp_path, "test")])
    with pytest.raises(TemplateProblem, match="not allowed in the sandbox"):
        templates.render("evil", {})
    with pytest.raises(TemplateProblem, match="not allowed in the sandbox"):
        templates.render("mutate", {"items": []})


def test_template_errors_are_clear(tmp_path: Path) -> None:
    write(tmp_path, "broken", "x", "{% if %}")
    write(tmp_path, "blank", "  \n", "body")
    (tmp_path / "partial.txt").write_text("no subject file")
    templates = Templates([Source(tmp_path, "test")])
    with pytest.raises(TemplateProblem, match=r"syntax error in broken.txt line 1"):
        templates.render("broken", {})
    with pytest.raises(TemplateProblem, match="the subject renders empty"):
        templates.render("blank", {})
    with pytest.raises(TemplateProblem, match=r"has no partial\.subject\.txt"):
        templates.render("partial", {})
    with pytest.raises(TemplateProblem, match=r"bad template name '\.\./etc/passwd'"):
        templates.render("../etc/passwd", {})
    with pytest.raises(TemplateProblem, match="no template named 'nope' "):
        templates.render("nope", {})
    with pytest.raises(TemplateProblem, match="variable names must be identifiers"):
        templates.render("blank", {"not an identifier": 1})


def test_the_first_folder_provides_every_part(tmp_path: Path) -> None:
    """An override of ``welcome`` without HTML does not borrow the built-in HTML."""
    mine = tmp_path / "mine"
    write(mine, "welcome", "Hi {{ name }}\n\n", "Short and plain.")
    templates = Templates.for_plugin(mine, tmp_path / "data")
    rendered = templates.render("welcome", {"name": "Ann"})
    assert (rendered.subject, rendered.text, rendered.html) == ("Hi Ann", "Short and plain.", None)
    assert templates.listing()[0]["source"] == "templates_dir"


def test_subject_is_folded_onto_one_line(tmp_path: Path) -> None:
    write(tmp_path, "fold", "Hello\n  {{ who }}\n", "b", "<p>{{ who }}</p>")
    templates = Templates([Source(tmp_path, "t")])
    rendered = templates.render("fold", {"who": "x\r\nBcc: eve@example.com"})
    assert rendered.subject == "Hello x Bcc: eve@example.com"
    assert rendered.html == "<p>x\r\nBcc: eve@example.com</p>"


# -- the message --------------------------------------------------------------------------


def test_build_message_leaves_bcc_out_of_the_headers() -> None:
    outgoing = Outgoing(
        sender=Address("robot@example.com", "Robot"),
        to=[Address("ann@example.com", "Ann")],
        cc=[Address("bob@example.com")],
        bcc=[Address("eve@example.com")],
        subject="Hi",
        text="plain",
        html="<p>rich</p>",
    )
    message = build_message(outgoing)
    assert outgoing.recipients == ["ann@example.com", "bob@example.com", "eve@example.com"]
    assert "eve@example.com" not in message.as_string()
    assert message["To"] == "Ann <ann@example.com>"
    assert message.get_content_type() == "multipart/alternative"
    assert str(message["Message-ID"]).endswith("@example.com>")


# -- configuration, secrets ---------------------------------------------------------------


def test_config_defaults_and_derived_values() -> None:
    config = EmailConfig(from_address="robot@example.com")
    assert (config.smtp_host, config.smtp_port, config.use_tls) == ("127.0.0.1", 587, True)
    assert config.net_permission == "net:127.0.0.1:587"
    assert config.loopback
    remote = EmailConfig(from_address="robot@example.com", smtp_host="smtp.example.com")
    assert not remote.loopback and remote.server == "smtp.example.com:587"
    assert EmailConfig(from_address="r@example.com", smtp_host="::1").server == "[::1]:587"


def test_config_refuses_bad_values() -> None:
    with pytest.raises(ValidationError, match="from_address"):
        EmailConfig.model_validate({})
    with pytest.raises(ValidationError, match="JAFHOST_EMAIL__PASSWORD"):
        EmailConfig(from_address="r@example.com", username="robot")
    with pytest.raises(ValidationError, match="username is not"):
        EmailConfig(from_address="r@example.com", password="x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="smtp_port"):
        EmailConfig(from_address="r@example.com", smtp_port=70000)
    with pytest.raises(ValidationError, match="extra"):
        EmailConfig.model_validate({"from_address": "r@example.com", "smtp_hots": "x"})
    with pytest.raises(ValidationError, match="host name"):
        EmailConfig(from_address="r@example.com", smtp_host="smtp example com")


def test_allowed_recipients_patterns() -> None:
    config = EmailConfig(from_address="r@example.com", allowed_recipients=[" *@Example.com "])
    assert config.may_receive("Ann@EXAMPLE.com")
    assert not config.may_receive("ann@example.com.evil.org")


def test_the_password_stays_hidden_and_is_scrubbed() -> None:
    config = EmailConfig(
        from_address="r@example.com",
        username="robot",
        password="hunter2-long",  # type: ignore[arg-type]
    )
    assert "hunter2-long" not in repr(config) and "hunter2-long" not in config.model_dump_json()
    import base64

    plain = base64.b64encode(b"\0robot\0hunter2-long").decode()
    text = f"535 bad: hunter2-long / {plain}"
    assert scrub(text, config) == "535 bad: ********** / **********"


def test_an_instance_config_becomes_the_defaults() -> None:
    given = EmailConfig(from_address="app@example.com", smtp_port=2525, use_tls=False)
    plugin = EmailPlugin(config=given)
    model = plugin.jaf_config_schema()
    assert issubclass(model, EmailConfig)
    assert model.model_validate({}).model_dump() == given.model_dump()
    assert model.model_validate({"smtp_port": 25}).smtp_port == 25  # the host's table wins
    assert EmailPlugin().jaf_config_schema() is EmailConfig
    from_mapping = EmailPlugin(config={"from_address": "m@example.com"})
    assert from_mapping.jaf_config_schema().model_validate({}).from_address == "m@example.com"


def test_the_agent_spec() -> None:
    assert EmailAgent.name == "email"
    assert EmailAgent.tools == ("email.*",)
    assert "never" in EmailAgent.instructions and "invent" in EmailAgent.instructions
