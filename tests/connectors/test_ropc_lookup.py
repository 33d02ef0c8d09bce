"""The ``ropc`` connector's user lookup (``lookup_url``) against the real Django OAuth Toolkit peer.

The peer's ``GET /api/users?email=`` is protected by a client-credentials token with the
``users.read`` scope, as an IdP's admin API is. What no real server does on demand (hanging,
several matches, a prefix search, garbage) is in ``test_ropc_lookup_failures.py``.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest
import requests

from connectors import LegacyUnavailable
from models import LegacyLink, User, db
from settings.errors import ConfigError
from tests.accounts import count_users
from tests.authenticators.mail import MailServer
from tests.conftest import APP_REDIRECT, SPA_REDIRECT, SignIn, deployment, ropc_connector
from tests.connectors.contract import build_connector, log_text
from tests.connectors.scripted_idp import ScriptedIdp

ALICE = "alice@example.com"
BOB = "bob@example.com"
DAVE = "dave@example.com"  # inactive at the legacy IDP
MIXED = "Mixed.Case@Example.com"


def lookup_table(dot, **settings) -> dict:
    """The ropc connector of the peer, with its user lookup."""
    return ropc_connector(dot, **{"lookup_url": dot.lookup_url, "lookup_scope": dot.lookup_scope,
                                  **settings})


@contextmanager
def stopped(dot):
    dot.stop()
    try:
        yield
    finally:
        dot.start()


def test_supports_lookup_only_with_a_lookup_url(app, dot):
    assert build_connector(app, lookup_table(dot)).supports_lookup
    assert not build_connector(app, ropc_connector(dot)).supports_lookup


def test_a_lookup_connector_without_lookup_url_stops_start_up(make_app, dot):
    tables = deployment({"legacy": ropc_connector(dot)},
                        journeys={"sign-in-with-code": {"steps": {"send": {"lookup_connector": "legacy"}}}})
    with pytest.raises(ConfigError, match="lookup_connector: 'legacy' cannot look users up"):
        make_app(DEPLOYMENT=tables)


def test_a_user_is_found_by_e_mail_with_the_claims_of_a_password_sign_in(app, dot):
    connector = build_connector(app, lookup_table(dot))

    found = connector.find(ALICE)

    assert found is not None
    assert (found.connector, found.subject) == ("legacy", dot.profiles[ALICE]["sub"])
    assert found.claims["email"] == ALICE and found.claims["email_verified"] is True
    signed_in = connector.check_password(ALICE, dot.users[ALICE])
    assert found.subject == signed_in.subject
    for claim in ("email", "email_verified", "given_name", "family_name", "name"):
        assert found.claims[claim] == signed_in.claims[claim]


def test_the_subject_matches_the_password_sign_in_for_a_mixed_case_address(app, dot):
    connector = build_connector(app, lookup_table(dot, send_identifier="as_typed"))

    found = connector.find(MIXED.lower())  # journeys hand over the normalised address

    assert found is not None
    assert found.subject == connector.check_password(MIXED, dot.users[MIXED]).subject
    assert found.subject != connector.find(ALICE).subject


@pytest.mark.parametrize("address", ["nobody@example.com", DAVE], ids=["unknown", "inactive"])
def test_an_unknown_or_inactive_user_is_not_found(app, dot, address):
    assert build_connector(app, lookup_table(dot)).find(address) is None


def test_the_client_credentials_token_is_kept_between_lookups(app, dot):
    with ScriptedIdp() as relay:
        relay.routes["/token"] = ScriptedIdp.forward_to(dot.token_url)
        connector = build_connector(app, lookup_table(dot, token_url=relay.url("/token")))

        assert connector.find(ALICE) is not None
        assert connector.find(BOB) is not None
        assert connector.find("nobody@example.com") is None

        [grant] = relay.calls("/token")
    assert grant.form() == {"grant_type": "client_credentials", "scope": "users.read"}


def test_a_revoked_token_is_replaced_once(app, dot):
    connector = build_connector(app, lookup_table(dot))
    assert connector.find(ALICE) is not None
    revoked, _kept = connector.service_token()
    answer = requests.post(dot.revoke_url, auth=(dot.client_id, dot.client_secret),
                           data={"token": revoked}, timeout=5)
    assert answer.status_code == 200

    assert connector.find(ALICE).subject == dot.profiles[ALICE]["sub"]
    assert connector.service_token()[0] != revoked


def test_a_client_not_allowed_the_client_credentials_grant_is_unavailable(app, dot, caplog):
    table = lookup_table(dot, client_id=dot.password_only_client_id,
                         client_secret=dot.password_only_client_secret)
    connector = build_connector(app, table)
    assert connector.check_password(ALICE, dot.users[ALICE]).subject  # its password grant works

    with caplog.at_level(logging.WARNING), pytest.raises(LegacyUnavailable) as refused:
        connector.find(ALICE)

    assert "unauthorized_client" in refused.value.reason
    assert refused.value.outage is False  # Ferry's settings: password sign-ins stay open
    logged = log_text(caplog.records)
    assert "client_credentials grant" in logged and dot.password_only_client_id in logged
    assert dot.password_only_client_secret not in logged


def test_a_token_without_the_lookup_scope_is_unavailable(app, dot, caplog):
    connector = build_connector(app, lookup_table(dot, lookup_scope="profile"))

    with caplog.at_level(logging.WARNING), pytest.raises(LegacyUnavailable) as refused:
        connector.find(ALICE)

    assert "403" in refused.value.reason and "insufficient_scope" in refused.value.reason
    assert refused.value.outage is False
    assert "right to read users (scope 'profile')" in log_text(caplog.records)


def test_a_scope_the_idp_refuses_to_the_client_is_unavailable(app, dot):
    connector = build_connector(app, lookup_table(dot, lookup_scope="admin"))
    with pytest.raises(LegacyUnavailable, match="invalid_scope"):
        connector.find(ALICE)


def test_a_wrong_client_secret_is_unavailable(app, dot, caplog):
    connector = build_connector(app, lookup_table(dot, client_secret="not-the-secret"))
    with caplog.at_level(logging.DEBUG), pytest.raises(LegacyUnavailable, match="invalid_client"):
        connector.find(ALICE)
    assert "not-the-secret" not in log_text(caplog.records)


def test_the_legacy_idp_down_is_unavailable_and_counts_for_the_breaker(app, dot):
    connector = build_connector(app, lookup_table(dot))
    with stopped(dot), pytest.raises(LegacyUnavailable) as down:
        connector.find(ALICE)
    assert "could not connect" in down.value.reason and down.value.outage is True


def test_the_idp_down_with_a_kept_token_is_unavailable_until_it_is_back(app, dot):
    connector = build_connector(app, lookup_table(dot))
    assert connector.find(ALICE) is not None  # the token is kept from here on
    with stopped(dot), pytest.raises(LegacyUnavailable, match="could not connect to .*/api/users"):
        connector.find(ALICE)
    assert connector.find(ALICE).subject == dot.profiles[ALICE]["sub"]


# -- through the journeys ---------------------------------------------------------------------
def test_a_never_migrated_user_signs_in_with_a_code_and_later_with_the_password(make_app, dot):
    tables = deployment({"legacy": lookup_table(dot)}, journeys={
        "sign-in-with-code": {"steps": {"send": {"lookup_connector": "legacy"}}}})
    tables["apps"]["test-app"]["journey"] = "sign-in-with-code"
    with MailServer() as mail:
        app = make_app(DEPLOYMENT=tables, **mail.config())
        by_code = SignIn(app.test_client())
        by_code.start()
        by_code.post(identifier=BOB)
        assert [m["X-Envelope-To"] for m in mail.received] == [BOB]  # the legacy address
        response = by_code.post(code=mail.last_code(BOB))
    assert response.headers["Location"].startswith(APP_REDIRECT)
    with app.app_context(), db.connection_context():
        bob = User.get(User.email == BOB)
        assert (bob.given_name, bob.email_verified) == ("Bob", True)
        assert LegacyLink.get(LegacyLink.user == bob).subject == dot.profiles[BOB]["sub"]

    # The spa app uses the password sign-in: the same legacy subject, so the same user.
    by_password = SignIn(app.test_client(), client_id="spa", redirect_uri=SPA_REDIRECT,
                         client_secret=None)
    by_password.code_from(by_password.sign_in(BOB, dot.users[BOB]))
    assert count_users(app) == 1
