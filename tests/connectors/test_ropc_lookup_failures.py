"""The ``ropc`` lookup when the legacy IDP answers what no real test server does on demand.

A :class:`ScriptedIdp` on loopback plays the token endpoint and ``lookup_url``: the answer
shapes (an object, a list, several matches, a prefix search), every way to fail (always
*unavailable*, never "not found" and never a crash), the token's keeping and renewal, and
what the circuit breaker makes of it.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors import LegacyUnavailable
from tests.connectors.contract import build_connector, log_text
from tests.connectors.scripted_idp import Reply

ALICE = "alice@example.com"
SECRET = "s3cret-of-the-client"
SERVICE_TOKEN = {"access_token": "service-token-1", "token_type": "Bearer", "expires_in": 3600}
CLAIMS = {"sub": "legacy-42", "email": "Alice@Example.com", "email_verified": True,
          "given_name": "Alice"}


def table(idp, **settings) -> dict:
    return {"type": "ropc", "token_url": idp.url("/token"), "userinfo_url": idp.url("/userinfo"),
            "client_id": "ferry", "client_secret": SECRET, "lookup_url": idp.url("/users"),
            "connect_timeout": 1, "read_timeout": 1, "deadline": 2, **settings}


@pytest.fixture
def idp(scripted_idp):
    scripted_idp.routes["/token"] = Reply(200, SERVICE_TOKEN)
    scripted_idp.routes["/users"] = Reply(200, [CLAIMS])
    return scripted_idp


def sent_urls(connector) -> list[str]:
    """Every URL the connector's session asks for, query included (the scripted IDP records
    paths only)."""
    urls: list[str] = []
    send = connector.http.session.request

    def spy(method, url, **kwargs):
        response = send(method, url, **kwargs)
        urls.append(response.url)
        return response

    connector.http.session.request = spy
    return urls


# -- what is sent, what is understood ---------------------------------------------------------
@pytest.mark.parametrize("client_auth", ["basic", "post"])
def test_the_grant_and_the_lookup_request(app, idp, client_auth):
    connector = build_connector(app, table(idp, lookup_url=idp.url("/users") + "?exact=true",
                                           lookup_param="mail", client_auth=client_auth))
    urls = sent_urls(connector)

    assert connector.find(ALICE).subject == "legacy-42"

    [grant] = idp.calls("/token")
    basic = "Basic " + base64.b64encode(f"ferry:{SECRET}".encode()).decode()
    assert (grant.form(), grant.headers.get("Authorization")) == {
        "basic": ({"grant_type": "client_credentials"}, basic),  # no scope: the IDP's default
        "post": ({"grant_type": "client_credentials", "client_id": "ferry",
                  "client_secret": SECRET}, None),
    }[client_auth]
    [lookup] = idp.calls("/users")
    assert lookup.method == "GET"
    assert lookup.headers["Authorization"] == "Bearer service-token-1"
    assert lookup.headers["Accept"] == "application/json"
    assert parse_qs(urlsplit(urls[-1]).query) == {"exact": ["true"], "mail": [ALICE]}


def test_the_lookup_scope_is_asked_for(app, idp):
    build_connector(app, table(idp, lookup_scope="users:read")).find(ALICE)
    assert idp.calls("/token")[0].form() == {"grant_type": "client_credentials", "scope": "users:read"}


@pytest.mark.parametrize("answer", [Reply(200, CLAIMS), Reply(200, [CLAIMS])], ids=["object", "list"])
def test_an_object_or_a_list_of_one_is_the_user(app, idp, answer):
    idp.routes["/users"] = answer
    found = build_connector(app, table(idp)).find(ALICE)
    assert (found.connector, found.subject, found.claims) == ("legacy", "legacy-42", CLAIMS)


def test_the_subject_claim_setting_is_used(app, idp):
    idp.routes["/users"] = Reply(200, [{**CLAIMS, "employee_id": 1042}])
    assert build_connector(app, table(idp, subject_claim="employee_id")).find(ALICE).subject == "1042"


@pytest.mark.parametrize("answer", [Reply(200, []), Reply(404, {"error": "not_found"}),
                                    Reply(404, "", "text/plain")], ids=["empty-list", "404", "bare-404"])
def test_not_found(app, idp, answer):
    idp.routes["/users"] = answer
    assert build_connector(app, table(idp)).find(ALICE) is None


def test_several_users_for_one_address_count_as_not_found(app, idp, caplog):
    idp.routes["/users"] = Reply(200, [CLAIMS, {**CLAIMS, "sub": "legacy-43"}])
    with caplog.at_level(logging.WARNING):
        assert build_connector(app, table(idp)).find(ALICE) is None
    assert "answered 2 users for one e-mail address; treated as not found" in log_text(caplog.records)


def test_users_with_another_address_are_ignored(app, idp, caplog):
    # An IDP whose search matches by prefix or substring (Keycloak's email= without exact=true).
    idp.routes["/users"] = Reply(200, [{**CLAIMS, "sub": "legacy-7", "email": "alice@example.com.au"},
                                       CLAIMS])
    with caplog.at_level(logging.WARNING):
        assert build_connector(app, table(idp)).find(ALICE).subject == "legacy-42"
        idp.routes["/users"] = Reply(200, {**CLAIMS, "email": "malice@example.com"})
        assert build_connector(app, table(idp)).find(ALICE) is None
    assert "another e-mail address than the one asked for; ignored" in log_text(caplog.records)


# -- every failure is unavailable -------------------------------------------------------------
FAILURES = {
    "lookup-500": ({"/users": Reply(500, {"error": "oops"})}, "lookup_url answered 500", True),
    "lookup-429": ({"/users": Reply(429, "")}, "lookup_url answered 429", True),
    "lookup-503-html": ({"/users": Reply(503, "<h1>Down</h1>", "text/html")}, "503", True),
    "lookup-hangs": ({"/users": Reply(hang=True)}, "timed out", True),
    "lookup-403": ({"/users": Reply(403, {"error": "forbidden"},
                                    headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})},
                   'answered 403 (Bearer error="insufficient_scope")', False),
    "lookup-401-fresh-token": ({"/users": Reply(401, "")}, "lookup_url answered 401", False),
    "lookup-400": ({"/users": Reply(400, {"error": "invalid_request"})}, "answered 400", False),
    "lookup-redirect": ({"/users": Reply(302, "", headers={"Location": "/login"})}, "answered 302", False),
    "lookup-html": ({"/users": Reply(200, "<html>Sign in</html>", "text/html")}, "not JSON", True),
    "lookup-a-string": ({"/users": Reply(200, '"alice"')}, "neither an object nor a list", False),
    "lookup-list-of-strings": ({"/users": Reply(200, ["alice"])}, "neither an object nor a list", False),
    "lookup-no-subject": ({"/users": Reply(200, [{"email": ALICE}])}, "no 'sub' claim", False),
    "token-500": ({"/token": Reply(500, "")}, "answered 500 to the client-credentials grant", True),
    "token-html": ({"/token": Reply(200, "<html></html>", "text/html")}, "not JSON", True),
    "token-hangs": ({"/token": Reply(hang=True)}, "timed out", True),
    "token-unauthorized-client": ({"/token": Reply(400, {"error": "unauthorized_client"})},
                                  "error 'unauthorized_client'", False),
    "token-without-access-token": ({"/token": Reply(200, {"token_type": "Bearer"})},
                                   "client-credentials grant refused", False),
}


@pytest.mark.parametrize(("routes", "reason", "outage"), FAILURES.values(), ids=FAILURES.keys())
def test_a_failure_is_unavailable_with_the_reason_logged(app, idp, caplog, routes, reason, outage):
    idp.routes.update(routes)
    connector = build_connector(app, table(idp))

    with caplog.at_level(logging.DEBUG), pytest.raises(LegacyUnavailable) as failed:
        connector.find(ALICE)

    assert reason in failed.value.reason
    assert failed.value.outage is outage
    logged = log_text(caplog.records)
    assert reason in logged
    for secret in (SECRET, SERVICE_TOKEN["access_token"]):
        assert secret not in logged
    assert ALICE not in failed.value.reason  # the address stays out of operator reasons


def test_a_401_with_a_kept_token_is_retried_once_with_a_new_one(app, idp):
    connector = build_connector(app, table(idp))
    assert connector.find(ALICE) is not None
    idp.routes["/users"] = Reply(401, "", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    with pytest.raises(LegacyUnavailable, match="lookup_url answered 401"):
        connector.find(ALICE)

    assert len(idp.calls("/token")) == 2  # the first token, then one new one
    assert len(idp.calls("/users")) == 3  # one good lookup, then one 401 for each token


# -- keeping the token --------------------------------------------------------------------------
@pytest.mark.parametrize(("expires_in", "kept_for"), [(3600, 3570), (20, 18), (None, 270), ("soon", 270)])
def test_the_token_is_kept_until_shortly_before_it_expires(app, idp, expires_in, kept_for):
    answer = {k: v for k, v in SERVICE_TOKEN.items() if k != "expires_in"}
    if expires_in is not None:
        answer["expires_in"] = expires_in
    idp.routes["/token"] = Reply(200, answer)
    connector = build_connector(app, table(idp))

    connector.find(ALICE)
    connector.find(ALICE)

    assert len(idp.calls("/token")) == 1
    assert connector._service_token.renew_at - time.monotonic() == pytest.approx(kept_for, abs=2)
    connector._service_token = replace(connector._service_token, renew_at=time.monotonic() - 1)
    connector.find(ALICE)
    assert len(idp.calls("/token")) == 2  # renewed once its time came


# -- the circuit breaker ------------------------------------------------------------------------
def test_a_lookup_misconfiguration_never_shuts_password_sign_ins_out(app, idp):
    idp.routes["/users"] = Reply(403, "")
    idp.routes["/userinfo"] = Reply(200, {"sub": "legacy-42", "email": ALICE})
    connector = build_connector(app, table(idp, breaker_failures=2))
    for _ in range(4):
        with pytest.raises(LegacyUnavailable, match="403"):
            connector.find(ALICE)
    assert connector.check_password(ALICE, "her password").subject == "legacy-42"


def test_a_lookup_outage_opens_the_breaker_for_everything(app, idp):
    idp.routes["/users"] = Reply(502, "")
    connector = build_connector(app, table(idp, breaker_failures=2))
    for _ in range(2):
        with pytest.raises(LegacyUnavailable, match="502"):
            connector.find(ALICE)
    with pytest.raises(LegacyUnavailable, match="circuit breaker open"):
        connector.check_password(ALICE, "her password")
