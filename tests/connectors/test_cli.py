"""The operator's ``connector-test`` command against the real password-grant server."""

from __future__ import annotations

import json

from tests.conftest import deployment, ropc_connector


def invoke(app, *args, password: str):
    return app.test_cli_runner().invoke(args=["ferry", "connector-test", *args], input=password + "\n")


def test_good_password_prints_the_mapped_profile(make_app, password_grant_server):
    app = make_app(DEPLOYMENT=deployment({"legacy": ropc_connector(password_grant_server)}))
    result = invoke(app, "legacy", "Alice@Example.com", password="wonderland-1865")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["profile"]["email"] == "alice@example.com"
    assert printed["profile"]["family_name"] == "Liddell"
    assert "wonderland-1865" not in result.output


def test_wrong_password_exits_1_and_outage_exits_2(make_app, password_grant_server):
    app = make_app(DEPLOYMENT=deployment({"legacy": ropc_connector(password_grant_server)}))
    wrong = invoke(app, "legacy", "alice@example.com", password="nope")
    assert wrong.exit_code == 1 and "wrong credentials" in wrong.output
    broken = make_app(DEPLOYMENT=deployment({"legacy": ropc_connector(
        password_grant_server, token_url="http://127.0.0.1:9/token")}))
    down = invoke(broken, "legacy", "alice@example.com", password="wonderland-1865")
    assert down.exit_code == 2 and "unavailable: could not connect" in down.output
    unknown = invoke(app, "nobody", "alice@example.com", password="x")
    assert unknown.exit_code == 2 and "no password connector named 'nobody'" in unknown.output
