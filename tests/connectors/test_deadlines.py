"""Deadlines, size caps, garbage and TLS: a legacy IdP that misbehaves never holds a worker.

The legacy IdP is :class:`tests.peers.bad_legacy.BadLegacy` on loopback, played against the
``ropc`` connector (and LDAP and Cognito for their deadline), with a 1 s deadline and connect and
read timeouts of 10 and 20 s: when a call ends early, only the deadline can have ended it. Each
test proves it structurally, from the peer's side: the call came back while the peer was still
sending (or never answered). The good path is the real password-grant server.
"""

from __future__ import annotations

import logging

import pytest

import connectors
from connectors import LegacyUnavailable
from connectors.breaker import state
from connectors.http import parse_json
from settings.errors import ConfigError
from tests.accounts import count_users
from tests.conftest import deployment
from tests.connectors.conftest import UNAVAILABLE, page_text, retry_after, sign_in_attempts
from tests.connectors.contract import build_connector, log_text
from tests.peers.bad_legacy import (
    PROFILE,
    TOKEN,
    Answer,
    BadLegacy,
    healthy,
    ropc_table,
    self_signed_certificate,
    stalled_listener,
)

ADA, PASSWORD = "ada@example.com", "correct horse battery staple"
#: More than the 1 s deadline allows: a byte every 0.2 s of a 200-byte answer takes 40 s.
SLOW_BODY = b'{"access_token": "' + b"t" * 180 + b'"}'


@pytest.fixture
def bad():
    with BadLegacy() as idp:
        yield healthy(idp)


@pytest.fixture
def tls_peer(tmp_path):
    certificate = self_signed_certificate(tmp_path)
    with BadLegacy(certificate) as idp:
        yield healthy(idp), certificate[0]


# -- the total deadline ----------------------------------------------------------------------
@pytest.mark.parametrize("head", [False, True], ids=["trickled-body", "trickled-status-line"])
def test_a_trickled_answer_is_unavailable_at_the_deadline(app, bad, head):
    bad.routes["/token"] = Answer(200, SLOW_BODY, trickle=0.2, trickle_head=head)
    connector = build_connector(app, ropc_table(bad))

    with pytest.raises(LegacyUnavailable) as late:
        connector.check_password(ADA, PASSWORD)

    [token_call] = bad.seen("/token")
    assert not token_call.finished.is_set(), "the call waited for the whole trickle"
    assert "the 1 s deadline" in late.value.reason and "/token" in late.value.reason
    assert bad.seen("/userinfo") == []


def test_the_breaker_opens_after_n_trickles_and_then_answers_without_calling(app, bad):
    bad.routes["/token"] = Answer(200, SLOW_BODY, trickle=0.2, trickle_head=True)
    connector = build_connector(app, ropc_table(bad, breaker_failures=2, breaker_reset=60))

    for _ in range(2):
        with pytest.raises(LegacyUnavailable, match="deadline"):
            connector.check_password(ADA, PASSWORD)
    assert state(connector) == "open"
    with pytest.raises(LegacyUnavailable, match="circuit breaker open"):
        connector.check_password(ADA, PASSWORD)

    assert len(bad.seen("/token")) == 2, "an open breaker still called the legacy IdP"
    assert not any(call.finished.is_set() for call in bad.seen("/token"))


def test_an_idp_that_takes_the_request_and_never_answers_is_unavailable(app, bad):
    bad.routes["/token"] = Answer(hang=True)
    connector = build_connector(app, ropc_table(bad))

    with pytest.raises(LegacyUnavailable) as late:
        connector.check_password(ADA, PASSWORD)

    [token_call] = bad.seen("/token")
    assert not token_call.finished.is_set()
    assert "the 1 s deadline" in late.value.reason


def test_a_connect_that_hangs_is_bounded_by_the_deadline(app):
    with stalled_listener() as port:
        url = f"http://127.0.0.1:{port}"
        connector = build_connector(app, {**ropc_table(BadLegacy()), "token_url": url + "/token",
                                          "userinfo_url": url + "/userinfo"})
        with pytest.raises(LegacyUnavailable) as late:
            connector.check_password(ADA, PASSWORD)
    # connect_timeout is 10 s: only the deadline ends a connect that nobody accepts
    assert "could not connect" in late.value.reason and "the 1 s deadline" in late.value.reason


def test_the_deadline_covers_every_request_of_one_call(app, bad):
    """The token came back at once; the userinfo trickle gets only what is left of the 1 s."""
    bad.routes["/userinfo"] = Answer(200, PROFILE, trickle=0.2)
    connector = build_connector(app, ropc_table(bad))

    with pytest.raises(LegacyUnavailable) as late:
        connector.check_password(ADA, PASSWORD)

    [token_call], [profile_call] = bad.seen("/token"), bad.seen("/userinfo")
    assert token_call.finished.is_set() and not profile_call.finished.is_set()
    assert "/userinfo" in late.value.reason and "deadline" in late.value.reason


def test_ldap_connects_and_receives_within_the_deadline(app, bad):
    """A directory that accepts the connection and never answers the search."""
    bad.routes.clear()
    table = {"type": "ldap", "url": [f"ldap://127.0.0.1:{bad.port}"], "allow_plaintext": True,
             "base_dn": "ou=people,dc=example,dc=com", "connect_timeout": 10,
             "read_timeout": 20, "deadline": 1}
    connector = build_connector(app, table)

    with pytest.raises(LegacyUnavailable) as late:
        connector.check_password(ADA, PASSWORD)

    assert "within the 1 s deadline" in late.value.reason and "timed out" in late.value.reason


def test_cognito_calls_keep_the_deadline_too(app, bad):
    bad.routes["/"] = Answer(200, b'{"AuthenticationResult": {}}', "application/x-amz-json-1.1",
                             trickle=0.2, trickle_head=True)
    table = {"type": "cognito", "user_pool_id": "eu-west-1_AbCdEf123", "client_id": "ferry",
             "endpoint_url": bad.base_url, "connect_timeout": 10, "read_timeout": 20,
             "deadline": 1}
    connector = build_connector(app, table)

    with pytest.raises(LegacyUnavailable) as late:
        connector.check_password(ADA, PASSWORD)

    [initiate] = bad.seen("/")
    assert not initiate.finished.is_set()
    assert "the 1 s deadline" in late.value.reason and "InitiateAuth" in late.value.reason


# -- the size cap and garbage ------------------------------------------------------------------
TEN_MB = b'{"access_token": "' + b"x" * 10_000_000 + b'"}'
GARBAGE = {
    "invalid-utf-8": (Answer(200, b'{"access_token": "caf\xe9", "token_type": "Bearer"}',
                             "application/json; charset=utf-8"), "not valid UTF-8"),
    "invalid-json": (Answer(200, b'{"access_token": "x",'), "not JSON"),
    "nan": (Answer(200, b'{"access_token": "x", "expires_in": NaN}'), "not JSON"),
    "ten-mb": (Answer(200, TEN_MB), "max_response_bytes"),
    "ten-mb-chunked": (Answer(200, TEN_MB, chunked=True), "max_response_bytes"),
    "200-with-an-error-body": (Answer(200, b'{"error": "server_error", "error_description": '
                                           b'"database down"}'), "error body ('server_error')"),
}


@pytest.fixture(params=list(GARBAGE), ids=list(GARBAGE))
def garbage(request, bad):
    answer, cause = GARBAGE[request.param]
    bad.routes["/token"] = answer
    return bad, cause


def test_garbage_is_unavailable_with_the_cause_named(app, garbage, caplog):
    bad, cause = garbage
    with pytest.raises(LegacyUnavailable) as refused:
        build_connector(app, ropc_table(bad)).check_password(ADA, PASSWORD)
    assert cause in refused.value.reason
    assert any(cause in record.getMessage() and record.levelno >= logging.WARNING
               for record in caplog.records), "no log line names the cause"


def test_garbage_gives_the_try_later_page_and_changes_nothing(make_app, garbage, caplog):
    bad, cause = garbage
    caplog.set_level(logging.DEBUG)
    ferry = make_app(DEPLOYMENT=deployment({"legacy": ropc_table(bad)}),
                     FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")

    answers = sign_in_attempts(ferry, ADA, PASSWORD, times=3)  # more than the limit allows

    assert all(a.status_code == 200 and UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(ferry) == 0, "a user was created from a garbage answer"
    assert retry_after(ferry, ADA) == 0, "the outage counted against the user"
    logged = log_text(caplog.records)
    assert cause in logged
    assert PASSWORD not in logged and "bad-legacy-client-secret" not in logged


def test_the_cap_is_a_setting(app, bad):
    bad.routes["/token"] = Answer(200, TOKEN + b" " * 4000)
    assert build_connector(app, ropc_table(bad)).check_password(ADA, PASSWORD).subject == "legacy-7"
    with pytest.raises(LegacyUnavailable, match=r"max_response_bytes \(2048"):
        build_connector(app, ropc_table(bad, max_response_bytes=2048)).check_password(ADA, PASSWORD)


@pytest.mark.parametrize(("body", "words"), [
    (b'{"a": "\xff"}', "not valid UTF-8 (byte 7)"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
    (b'{"n": ' + b"9" * 5000 + b"}", "digits"),
    (b'{"n": Infinity}', "Infinity is not a JSON number"),
    (b"", "Expecting value"),
])
def test_parse_json_refuses_what_is_not_strict_json(body, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_json(body)


def test_parse_json_reads_utf8_with_or_without_a_byte_order_mark():
    assert parse_json('{"name": "Zoë"}'.encode()) == {"name": "Zoë"}
    assert parse_json('\ufeff{"name": "Zoë"}'.encode()) == {"name": "Zoë"}


# -- TLS -------------------------------------------------------------------------------------
def test_a_self_signed_legacy_idp_is_refused_before_the_password_leaves(app, tls_peer):
    peer, _certificate = tls_peer
    connector = build_connector(app, ropc_table(peer))

    with pytest.raises(LegacyUnavailable) as refused:
        connector.check_password(ADA, PASSWORD)

    assert "certificate verify failed (self-signed certificate)" in refused.value.reason
    assert "ca_file" in refused.value.reason
    assert peer.seen() == [], "a request (with the password) reached an unverified server"


def test_a_self_signed_legacy_idp_is_trusted_with_its_certificate_as_ca_file(
        app, tls_peer, dot):
    """Relayed to the real password-grant server: the password is checked for real."""
    peer, certificate = tls_peer
    peer.routes["/o/token/"] = Answer(relay=dot.base_url)
    peer.routes["/o/userinfo/"] = Answer(relay=dot.base_url)
    table = {**ropc_table(peer, ca_file=str(certificate)), "client_id": dot.client_id,
             "client_secret": dot.client_secret, "token_url": peer.url("/o/token/"),
             "userinfo_url": peer.url("/o/userinfo/"), "deadline": 10}
    connector = build_connector(app, table)
    alice = "alice@example.com"

    identity = connector.check_password(alice, dot.users[alice])

    assert identity.claims["email"] == alice
    with pytest.raises(connectors.InvalidCredentials):
        connector.check_password(alice, "not her password")
    assert len(peer.seen("/o/token/")) == 2


def test_verification_cannot_be_switched_off_per_request(app, tls_peer):
    peer, _certificate = tls_peer
    connector = build_connector(app, ropc_table(peer))
    with pytest.raises(LegacyUnavailable, match="certificate verify failed"):
        connector.http.request("GET", peer.url("/token"), verify=False)


# -- the good path, and the settings ------------------------------------------------------------
def test_the_real_password_grant_server_signs_in_within_the_limits(app, dot):
    table = {"type": "ropc", "token_url": dot.token_url, "userinfo_url": dot.userinfo_url,
             "client_id": dot.client_id, "client_secret": dot.client_secret,
             "deadline": 10, "max_response_bytes": 4096, "max_concurrent_calls": 1}
    connector = build_connector(app, table)
    alice = "alice@example.com"

    for _ in range(2):  # the second call proves the bulkhead slot was given back
        assert connector.check_password(alice, dot.users[alice]).claims["email"] == alice
    assert state(connector) == "closed"


def test_a_legacy_idp_named_by_host_name_is_looked_up_within_the_deadline(app, bad):
    table = {**ropc_table(bad), "token_url": f"http://localhost:{bad.port}/token",
             "userinfo_url": f"http://localhost:{bad.port}/userinfo"}
    assert build_connector(app, table).check_password(ADA, PASSWORD).subject == "legacy-7"


@pytest.mark.parametrize(("settings", "problem"), [
    ({"deadline": 0}, "deadline"),
    ({"deadline": 30}, "deadline"),
    ({"max_response_bytes": 100}, "max_response_bytes"),
    ({"max_concurrent_calls": 0}, "max_concurrent_calls"),
    ({"ca_file": "/nonexistent/ca.pem"}, "ca_file: cannot load CA certificates"),
])
def test_the_limits_are_validated_at_start(app, bad, settings, problem):
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, ropc_table(bad, **settings))
    assert any(f"connectors.legacy.{problem}" in line for line in invalid.value.problems)


def test_a_ca_file_without_certificates_is_refused(app, bad, tmp_path):
    empty = tmp_path / "empty.pem"
    empty.write_text("no certificate here\n")
    with pytest.raises(ConfigError, match="ca_file"):
        build_connector(app, ropc_table(bad, ca_file=str(empty)))
