"""The email plugin in a real jafhost, sending through a real SMTP server on 127.0.0.1.

Each test builds a host with ``jafhost_factory`` (the plugin discovered from its installed
distribution through the ``email`` entry point, a class the host instantiates), points it
at the aiosmtpd server of ``conftest.py`` and asserts on what that server received.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from jaf_plugin_email.config import EmailConfig
from jaf_plugin_email.plugin import EmailAgent, EmailPlugin

SENDER = "robot@example.com"


def text_of(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def html_of(message: Any) -> str | None:
    part = message.get_body(preferencelist=("html",))
    return None if part is None else str(part.get_content()).replace("\r\n", "\n")


# -- discovery, manifest ----------------------------------------------------------------


def test_the_plugin_is_discovered_with_its_manifest(email_host: Any) -> None:
    host = email_host()
    view = host.plugin("email")
    assert view.info.distribution == "jaf-plugin-email"
    assert view.info.version == "1.0.0"
    assert set(view.info.kinds) == {"tool", "agent", "event"}
    # what the manifest requests: the default local server and the password variable
    assert sorted(str(p) for p in view.info.permissions) == [
        "env:JAFHOST_EMAIL__PASSWORD",
        "net:127.0.0.1:587",
    ]
    assert host.host.loaded("email").status == "active"
    # installed plugins run in a worker by default (where the class is instantiated)
    assert host.host.isolation_of("email") == "process"
    assert {t.full_name for t in host.tools()} == {
        "email.send_email",
        "email.send_template_email",
        "email.list_templates",
    }


# -- send_email ---------------------------------------------------------------------------


def test_send_email_delivers_to_to_cc_and_bcc(email_host: Any, smtp_server: Any) -> None:
    host = email_host()
    result = host.call_ok(
        "email.send_email",
        {
            "to": ["Ann Example <ann@example.com>", "bob@EXAMPLE.com"],
            "cc": "carol@example.com",
            "bcc": ["dave@example.org"],
            "subject": "Build 42 is green",
            "body": "All tests passed.\n",
        },
    )
    recipients = ["ann@example.com", "bob@example.com", "carol@example.com", "dave@example.org"]
    assert result["accepted"] == recipients
    assert result["refused"] == {}
    assert result["from"] == SENDER
    assert result["server"] == f"127.0.0.1:{smtp_server.port}"

    [received] = smtp_server.received
    assert received.mail_from == SENDER
    assert received.rcpt_tos == recipients  # bcc is in the envelope...
    message = received.message
    assert message["From"] == "Robot <robot@example.com>"
    assert message["To"] == "Ann Example <ann@example.com>, bob@example.com"
    assert message["Cc"] == "carol@example.com"
    assert message["Bcc"] is None  # ...but in no header
    assert b"dave@example.org" not in received.content
    assert message["Subject"] == "Build 42 is green"
    assert message["Message-ID"] == result["message_id"]
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"]
    assert message.get_content_type() == "text/plain"
    assert text_of(message) == "All tests passed.\n"


def test_send_email_with_an_html_alternative(email_host: Any, smtp_server: Any) -> None:
    host = email_host()
    host.call_ok(
        "email.send_email",
        {
            "to": "ann@example.com",
            "subject": "Report",
            "body": "Numbers: 1, 2, 3",
            "html": "<p>Numbers: <b>1, 2, 3</b></p>",
        },
    )
    message = smtp_server.received[0].message
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert text_of(message).strip() == "Numbers: 1, 2, 3"
    assert (html_of(message) or "").strip() == "<p>Numbers: <b>1, 2, 3</b></p>"


def test_each_invalid_recipient_is_named_and_nothing_is_sent(
    email_host: Any, smtp_server: Any
) -> None:
    host = email_host()
    result = host.call(
        "email.send_email",
        {
            "to": ["ann@example.com", "not-an-address"],
            "cc": "bob@@example.com",
            "bcc": "eve@example.test",
            "subject": "Hi",
            "body": "x",
        },
    )
    assert not result.ok and result.error is not None
    assert result.error.code == "invalid_arguments"
    message = result.error.message
    assert "3 invalid addresses" in message
    assert "to 'not-an-address'" in message and "@-sign" in message
    assert "cc 'bob@@example.com'" in message
    assert "bcc 'eve@example.test'" in message
    assert "ann@example.com" not in message  # the valid one is not blamed
    assert smtp_server.received == []


def test_schema_refuses_what_is_not_an_address_list(email_host: Any, smtp_server: Any) -> None:
    host = email_host()
    result = host.call("email.send_email", {"to": [1], "subject": "s", "body": "b"})
    assert result.error is not None and result.error.code == "invalid_arguments"
    one_line = host.call(
        "email.send_email", {"to": "a@example.com", "subject": "a\nBcc: x@example.com", "body": ""}
    )
    assert one_line.error is not None and one_line.error.code == "invalid_arguments"
    assert "one line" in one_line.error.message
    assert smtp_server.received == []


def test_refused_recipients_are_reported(email_host: Any, smtp_server: Any) -> None:
    host = email_host()
    result = host.call_ok(
        "email.send_email",
        {"to": ["ann@example.com", "nobody@example.com"], "subject": "s", "body": "b"},
    )
    assert result["accepted"] == ["ann@example.com"]
    assert list(result["refused"]) == ["nobody@example.com"]
    assert result["refused"]["nobody@example.com"].startswith("550 5.1.1")
    assert smtp_server.received[0].rcpt_tos == ["ann@example.com"]

    everyone = host.call(
        "email.send_email", {"to": "nobody@example.com", "subject": "s", "body": "b"}
    )
    assert everyone.error is not None and everyone.error.code == "tool_error"
    assert "refused every recipient" in everyone.error.message
    assert "nobody@example.com: 550 5.1.1" in everyone.error.message
    assert len(smtp_server.received) == 1


def test_allowed_recipients_limit_who_receives_mail(email_host: Any, smtp_server: Any) -> None:
    host = email_host(allowed_recipients=["*@example.com"])
    host.call_ok("email.send_email", {"to": "ann@example.com", "subject": "s", "body": "b"})
    denied = host.call(
        "email.send_email",
        {"to": "ann@example.com", "bcc": "spy@elsewhere.org", "subject": "s", "body": "b"},
    )
    assert denied.error is not None and denied.error.code == "permission_denied"
    assert "spy@elsewhere.org" in denied.error.message
    assert len(smtp_server.received) == 1


# -- templates --------------------------------------------------------------------------


def test_send_template_email_renders_the_built_in_welcome(
    email_host: Any, smtp_server: Any
) -> None:
    host = email_host()
    result = host.call_ok(
        "email.send_template_email",
        {
            "to": "ann@example.com",
            "template": "welcome",
            "variables": {"name": "Ann <Admin>", "email": "ann@example.com"},
        },
    )
    assert result["template"] == "welcome"
    assert result["subject"] == "Welcome, Ann <Admin>!"
    message = smtp_server.received[0].message
    assert message["Subject"] == "Welcome, Ann <Admin>!"
    assert "Hello Ann <Admin>," in text_of(message)  # plain text: as given
    html = html_of(message) or ""
    assert "Hello Ann &lt;Admin&gt;," in html  # HTML: escaped
    assert "<strong>ann@example.com</strong>" in html


def test_a_missing_template_variable_is_an_error_naming_it(
    email_host: Any, smtp_server: Any
) -> None:
    host = email_host()
    result = host.call(
        "email.send_template_email",
        {"to": "ann@example.com", "template": "welcome", "variables": {"email": "a@example.com"}},
    )
    assert result.error is not None and result.error.code == "invalid_arguments"
    assert "'name' is undefined" in result.error.message
    assert "not given: name" in result.error.message
    assert "variables given: email" in result.error.message
    unknown = host.call(
        "email.send_template_email", {"to": "ann@example.com", "template": "invoice"}
    )
    assert unknown.error is not None
    assert "no template named 'invoice' (available: welcome)" in unknown.error.message
    assert smtp_server.received == []


def test_templates_in_the_data_folder(email_host: Any, smtp_server: Any) -> None:
    host = email_host()
    folder = host.host.layout.data_dir("email") / "templates"
    folder.mkdir(parents=True)
    (folder / "invoice.subject.txt").write_text("Invoice {{ number }}\n")
    (folder / "invoice.txt").write_text(
        "Total: {{ '%.2f' | format(total) }}{% for item in items %}\n- {{ item }}{% endfor %}\n"
    )
    listing = {t["name"]: t for t in host.call_ok("email.list_templates")}
    assert listing["invoice"] == {
        "name": "invoice",
        "source": "data",
        "html": False,
        "variables": ["items", "number", "total"],
    }
    assert listing["welcome"]["source"] == "built-in"
    assert listing["welcome"]["variables"] == ["email", "name"]

    host.call_ok(
        "email.send_template_email",
        {
            "to": "ann@example.com",
            "template": "invoice",
            "variables": {"number": "2024-7", "total": 12.5, "items": ["tea", "cake"]},
        },
    )
    message = smtp_server.received[0].message
    assert message["Subject"] == "Invoice 2024-7"
    assert message.get_content_type() == "text/plain"
    assert text_of(message) == "Total: 12.50\n- tea\n- cake\n"


# -- events -----------------------------------------------------------------------------


def test_user_signup_sends_the_welcome_email(email_host: Any, smtp_server: Any) -> None:
    host = email_host()
    report = host.emit("user.signup", {"email": "nia@example.com", "name": "Nia", "plan": "pro"})
    assert report.ok, report.to_json()
    assert report.delivered == [{"plugin": "email", "pattern": "user.signup"}]
    [received] = smtp_server.received
    assert received.rcpt_tos == ["nia@example.com"]
    message = received.message
    assert message["To"] == "Nia <nia@example.com>"
    assert message["Subject"] == "Welcome, Nia!"
    assert "Hello Nia," in text_of(message)
    assert "nia@example.com" in (html_of(message) or "")


def test_a_signup_without_an_email_fails_clearly(email_host: Any, smtp_server: Any) -> None:
    host = email_host()
    report = host.emit("user.signup", {"name": "Nia"})
    assert not report.ok
    [failure] = report.failed
    assert failure["plugin"] == "email"
    assert "needs 'email'" in failure["error"]
    bad = host.emit("user.signup", {"name": "Nia", "email": "nia@"})
    assert "invalid email 'nia@'" in bad.failed[0]["error"]
    assert smtp_server.received == []


# -- authentication, secrets --------------------------------------------------------------


def test_login_with_the_password_from_the_environment(
    email_host: Any, smtp_auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = smtp_auth_server.credentials
    monkeypatch.setenv("JAFHOST_EMAIL__PASSWORD", password)
    host = email_host(server=smtp_auth_server, username=user)
    result = host.call_ok(
        "email.send_email", {"to": "ann@example.com", "subject": "s", "body": "b"}
    )
    assert smtp_auth_server.recorder.logins == [(user, password)]
    [received] = smtp_auth_server.received
    assert received.authenticated
    assert password not in json.dumps(result)
    report = host.emit("user.signup", {"email": "nia@example.com", "name": "Nia"})
    assert report.ok and password not in json.dumps(report.to_json())
    assert len(smtp_auth_server.received) == 2


def test_the_password_never_appears_in_results_or_errors(
    email_host: Any, smtp_auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, _ = smtp_auth_server.credentials
    wrong = "wr0ng-Pa55-that-must-stay-secret"
    monkeypatch.setenv("JAFHOST_EMAIL__PASSWORD", wrong)
    host = email_host(server=smtp_auth_server, username=user)
    outcomes = [
        host.call("email.send_email", {"to": "ann@example.com", "subject": "s", "body": "b"}),
        host.call("email.send_email", {"to": "bad@", "subject": "s", "body": "b"}),
        host.call("email.send_template_email", {"to": "ann@example.com", "template": "nope"}),
        host.call("email.list_templates"),
    ]
    login_failed = outcomes[0]
    assert login_failed.error is not None and login_failed.error.code == "tool_error"
    assert f"logging in as '{user}' failed: 535" in login_failed.error.message
    assert set(smtp_auth_server.recorder.logins) == {(user, wrong)}  # sent to the server only
    report = host.emit("user.signup", {"email": "nia@example.com", "name": "Nia"})
    assert not report.ok
    texts = [json.dumps(o.to_json()) for o in outcomes] + [json.dumps(report.to_json())]
    for text in texts:
        assert wrong not in text
    assert smtp_auth_server.received == []


def test_no_password_in_the_environment_keeps_the_plugin_inactive(email_host: Any) -> None:
    host = email_host(username="robot")
    loaded = host.host.loaded("email")
    assert loaded.status == "broken"
    assert "JAFHOST_EMAIL__PASSWORD" in (loaded.error or "")


def test_the_environment_overrides_the_config_file(
    email_host: Any, smtp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAFHOST_EMAIL__SMTP_PORT", str(smtp_server.port))
    host = email_host(smtp_port=587)
    host.call_ok("email.send_email", {"to": "ann@example.com", "subject": "s", "body": "b"})
    assert len(smtp_server.received) == 1


# -- permissions ------------------------------------------------------------------------


def test_a_server_port_that_is_not_granted_is_denied(email_host: Any, smtp_server: Any) -> None:
    # the manifest's default grant (127.0.0.1:587) does not cover the test server's port
    host = email_host(grants=["net:127.0.0.1:587", "env:JAFHOST_EMAIL__PASSWORD"])
    error = host.assert_denied(
        "email.send_email",
        {"to": "ann@example.com", "subject": "s", "body": "b"},
        permission="net:",
    )
    assert error.permission == f"net:127.0.0.1:{smtp_server.port}"
    denied_event = host.emit("user.signup", {"email": "nia@example.com", "name": "Nia"})
    assert f"net:127.0.0.1:{smtp_server.port}" in denied_event.failed[0]["error"]
    assert smtp_server.received == []


def test_a_server_host_that_is_not_granted_is_denied(email_host: Any, smtp_server: Any) -> None:
    host = email_host(smtp_host="smtp.example.com")  # granted: 127.0.0.1:<port> only
    error = host.assert_denied(
        "email.send_email", {"to": "ann@example.com", "subject": "s", "body": "b"}
    )
    assert error.permission == f"net:smtp.example.com:{smtp_server.port}"
    assert smtp_server.received == []


# -- process isolation --------------------------------------------------------------------


def test_it_works_the_same_in_a_worker_process(
    jafhost_factory: Any, smtp_auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``isolation="process"``: the plugin runs in a worker that receives only the granted
    environment; the host hands it the validated configuration, password included."""
    user, password = smtp_auth_server.credentials
    monkeypatch.setenv("JAFHOST_EMAIL__PASSWORD", password)
    table = {
        "smtp_port": smtp_auth_server.port,
        "use_tls": False,
        "from_address": SENDER,
        "username": user,
    }
    host = jafhost_factory(
        "email",
        isolation="process",
        grants={"email": [smtp_auth_server.grant, "env:JAFHOST_EMAIL__PASSWORD"]},
        config={"plugins": {"email": table}},
    )
    assert host.host.isolation_of("email") == "process"
    result = host.call_ok(
        "email.send_email", {"to": "ann@example.com", "subject": "s", "body": "b"}
    )
    assert password not in json.dumps(result)
    assert host.emit("user.signup", {"email": "nia@example.com", "name": "Nia"}).ok
    invalid = host.call("email.send_email", {"to": "ann@", "subject": "s", "body": "b"})
    assert invalid.error is not None and "to 'ann@'" in invalid.error.message
    assert [r.rcpt_tos for r in smtp_auth_server.received] == [
        ["ann@example.com"],
        ["nia@example.com"],
    ]


# -- the agent ----------------------------------------------------------------------------


def test_the_email_agent_sends_one_mail(email_host: Any, smtp_server: Any) -> None:
    host = email_host()
    agent = host.host.agent("email.email")
    assert agent.spec.tools == ("email.*",) == EmailAgent.tools
    run = host.run_scripted(
        "email.email",
        "Tell ann@example.com that build 42 is green.",
        [
            {
                "content": "Sending it.",
                "tool_calls": [
                    {
                        "name": "email.send_email",
                        "arguments": {
                            "to": "ann@example.com",
                            "subject": "Build 42 is green",
                            "body": "Hi Ann, build 42 passed.",
                        },
                    }
                ],
            },
            {"content": "Sent to ann@example.com."},
        ],
    )
    assert run.ok, run.error
    assert run.output == "Sent to ann@example.com."
    [step_result] = run.tool_results
    assert step_result.ok and step_result.result["accepted"] == ["ann@example.com"]
    [received] = smtp_server.received
    assert received.rcpt_tos == ["ann@example.com"]
    assert received.message["Subject"] == "Build 42 is green"


# -- an instance made with a configuration -------------------------------------------------


def test_an_instance_with_its_own_config_runs_in_the_host(
    jafhost_factory: Any, smtp_server: Any
) -> None:
    """``EmailPlugin(config=...)``: used when the host has no [plugins.email] table."""
    host = jafhost_factory(
        "email",
        grants={"email": [smtp_server.grant]},
        activate=False,
    )
    plugin = EmailPlugin(
        config=EmailConfig(
            from_address="app@example.com", smtp_port=smtp_server.port, use_tls=False
        )
    )
    loaded = host.run(host.host.start_plugin("email", plugin))
    assert loaded.status == "active", loaded.error
    assert loaded.obj is plugin  # an object the program made runs in its process
    assert loaded.ctx.config.from_address == "app@example.com"
    host.call_ok("email.send_email", {"to": "ann@example.com", "subject": "s", "body": "b"})
    assert smtp_server.received[0].mail_from == "app@example.com"
