"""The {{ cookiecutter.plugin_name }} plugin in a real, isolated jafhost.

``jafhost_factory`` and ``jafhost_home`` come from jafhost's pytest plugin, active
whenever jafhost is installed. Each host the factory makes has a temporary
``JAFHOST_HOME``, finds plugins through their installed distributions exactly as a
user's host does, and loads only the plugins named, so install this project first:
``pip install -e ".[test]"``. ``grants=`` chooses what the plugin is allowed (default:
what it requests); ``call_ok`` returns a tool's result or fails the test with the error;
``assert_denied`` checks that the host refused an action.
"""
{% if cookiecutter.permissions == "net" %}
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
{%- else %}
from collections.abc import Callable
{%- endif %}
from pathlib import Path
from typing import Any

{% if cookiecutter.permissions == "net" -%}
import pytest
{% endif -%}
from jafhost import Host

PLUGIN = {{ cookiecutter.plugin_name | jsonify }}
Factory = Callable[..., Any]


def test_my_plugin_is_discovered(jafhost_home: Path) -> None:
    """Installed and found through its entry point; its manifest is read, no code runs."""
    view = Host(jafhost_home).plugin(PLUGIN)
    assert view.info.distribution == "{{ cookiecutter.__distribution }}"
    assert view.info.error is None, view.info.error
    assert view.info.kinds == ({% for kind in cookiecutter.kinds.split(",") %}"{{ kind.strip() }}",{% if not loop.last %} {% endif %}{% endfor %})
{%- if cookiecutter.permissions == "none" %}
    assert view.info.permissions == ()
    assert view.status == "enabled"  # it requests nothing, so it is enabled on discovery
{%- else %}
    assert [p.split(":")[0] for p in view.info.permissions] == [{{ cookiecutter.permissions | jsonify }}]
    assert view.status == "needs-approval"  # until the user approves what it requests
{%- endif %}
{% if cookiecutter.permissions == "read" %}

def test_its_tool_works(jafhost_factory: Factory, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "todo.txt").write_text("water the plants\n", encoding="utf-8")
    host = jafhost_factory(PLUGIN, grants={PLUGIN: [f"read:{allowed}"]})
    assert host.active == [PLUGIN]
    text = host.call_ok(f"{PLUGIN}.read_text", {"path": str(allowed / "todo.txt")})
    assert text == "water the plants\n"


def test_it_may_not_read_outside_its_grants(jafhost_factory: Factory) -> None:
    """An agent steered into reading a private key: refused before the file is opened."""
    secret = Path.home() / ".ssh" / "id_ed25519"
    host = jafhost_factory(PLUGIN)  # granted what jaf-plugin.toml requests, nothing more
    host.assert_denied(f"{PLUGIN}.read_text", {"path": str(secret)}, permission="read:")
{%- elif cookiecutter.permissions == "net" %}

class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from 127.0.0.1"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_url() -> Iterator[str]:
    """A web server on 127.0.0.1 for the test only: the tests never leave this machine."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def test_its_tool_works(jafhost_factory: Factory, local_url: str) -> None:
    host = jafhost_factory(PLUGIN, grants={PLUGIN: ["net:127.0.0.1"]})
    assert host.active == [PLUGIN]
    assert host.call_ok(f"{PLUGIN}.fetch", {"url": local_url}) == "hello from 127.0.0.1"


def test_it_may_not_connect_outside_its_grants(jafhost_factory: Factory, local_url: str) -> None:
    host = jafhost_factory(PLUGIN)  # granted what jaf-plugin.toml requests, nothing more
    host.assert_denied(f"{PLUGIN}.fetch", {"url": local_url}, permission="net:127.0.0.1")
{%- else %}

def test_its_tool_works(jafhost_factory: Factory) -> None:
    host = jafhost_factory(PLUGIN)
    assert host.active == [PLUGIN]
    assert host.call_ok(f"{PLUGIN}.hello", {"name": "Ada"}) == "Hello, Ada."
    assert host.call_ok(f"{PLUGIN}.hello", {"name": "Ada", "excited": True}) == "Hello, Ada!"
{%- endif %}


def test_arguments_are_checked_before_the_tool_runs(jafhost_factory: Factory) -> None:
    host = jafhost_factory(PLUGIN)
{%- if cookiecutter.permissions == "read" %}
    result = host.call(f"{PLUGIN}.read_text", {"path": "x", "max_chars": 0})
{%- elif cookiecutter.permissions == "net" %}
    result = host.call(f"{PLUGIN}.fetch", {"url": "http://example.com/", "max_bytes": 0})
{%- else %}
    result = host.call(f"{PLUGIN}.hello", {"name": ""})
{%- endif %}
    assert not result.ok
    assert result.error is not None
    assert result.error.code == "invalid_arguments"


def test_the_tool_schema_comes_from_hints_and_docstring(jafhost_factory: Factory) -> None:
    host = jafhost_factory(PLUGIN)
    [tool] = host.tools()
    assert tool.description
{%- if cookiecutter.permissions == "read" %}
    assert tool.input_schema["required"] == ["path"]
{%- elif cookiecutter.permissions == "net" %}
    assert tool.input_schema["required"] == ["url"]
{%- else %}
    assert tool.input_schema["required"] == ["name"]
{%- endif %}
