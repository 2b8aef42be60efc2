import json
from typing import Any
def test_process(jafhost_factory: Any, smtp_server: Any, monkeypatch) -> None:
    table = {"smtp_port": smtp_server.port, "use_tls": False, "from_address": "r@example.com"}
    host = jafhost_factory("email", isolation="process", grants={"email": [smtp_server.grant]}, config={"plugins": {"email": table}})
    print(host.host.loaded("email").status, host.host.loaded("email").error)
    r = host.call("email.send_email", {"to": "ann@example.com", "subject": "s", "body": "b"})
    print(json.dumps(r.to_json())[:800])
    r = host.call("email.send_email", {"to": "ann@", "subject": "s", "body": "b"})
    print(json.dumps(r.to_json())[:800])
    print(host.emit("user.signup", {"email": "n@example.com", "name": "N"}).to_json())
    print(host.run(host.host.run_agent("email.email", "x", model="scripted:/dev/null")) if False else "")
    print(len(smtp_server.received))

def test_secret_in_file(jafhost_factory: Any, smtp_server: Any) -> None:
    table = {"smtp_port": smtp_server.port, "use_tls": False, "from_address": "r@example.com", "username": "u", "password": "in-file"}
    host = jafhost_factory("email", grants={"email": [smtp_server.grant]}, config={"plugins": {"email": table}})
    print("SECRET IN FILE:", host.host.loaded("email").status, host.host.loaded("email").error)
