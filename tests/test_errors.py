"""``jafhost.errors``: the hierarchy callers rely on and the one ``describe``."""

from __future__ import annotations

import pytest

from jafhost.errors import (
    ConfigError,
    HookTimeout,
    PermissionDenied,
    PluginError,
    PluginExit,
    ProviderError,
    ToolError,
    describe,
)


def test_a_time_limit_is_both_a_plugin_error_and_a_timeout() -> None:
    with pytest.raises(PluginError):
        raise HookTimeout("jaf_initialize did not finish within 10 s")
    with pytest.raises(TimeoutError):
        raise HookTimeout("jaf_initialize did not finish within 10 s")
    assert str(HookTimeout("late")) == "late"
    assert issubclass(PluginExit, PluginError)
    assert issubclass(PermissionDenied, PermissionError)
    assert issubclass(ConfigError, PluginError)


@pytest.mark.parametrize(
    ("exc", "described"),
    [
        (RuntimeError("bad init"), "RuntimeError: bad init"),
        (RuntimeError("  two\nlines "), "RuntimeError: two\nlines"),
        (KeyError(), "KeyError"),
        (SystemExit(3), "SystemExit: 3"),
        (ToolError("no such record", code="not_found"), "ToolError: no such record"),
        (PermissionDenied("read:/x: no", permission="read:/x"), "PermissionDenied: read:/x: no"),
        (
            HookTimeout("jaf_activate did not finish within 1 s"),
            "jaf_activate did not finish within 1 s",
        ),
        (PluginExit("SystemExit: 3"), "SystemExit: 3"),
        (ProviderError("no API key: set OPENAI_API_KEY"), "no API key: set OPENAI_API_KEY"),
    ],
)
def test_describe_names_the_type_of_what_code_raised(exc: BaseException, described: str) -> None:
    assert describe(exc) == described


def test_describe_first_line() -> None:
    assert describe(ValueError("first\nsecond"), first_line=True) == "ValueError: first"
    assert describe(ValueError(""), first_line=True) == "ValueError"
    assert describe(HookTimeout("a\nb"), first_line=True) == "a\nb"
