"""The ``ropc`` connector against a real OAuth 2.0 password-grant server (Django OAuth Toolkit).

The failure modes no real server produces on demand are in ``test_ropc_failures.py``.
"""

from __future__ import annotations

import base64
from contextlib import contextmanager

import pytest

from connectors import InvalidCredentials, LegacyUnavailable
from models import LegacyLink, PasswordCredential, User, db
from tests.accounts import count_users
from tests.conftest import SignIn, deployment, ropc_connector
from tests.connectors.conftest import (
    UNAVAILABLE,
    WRONG_CREDENTIALS,
    page_text,
    retry_after,
    sign_in_attempts,
)
from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector
from tests.connectors.scripted_idp import Reply

ALICE = "alice@example.com"
DAVE = "dave@example.com"  # inactive at the legacy IDP
MIXED = "Mixed.Case@Example.com"  # the legacy IDP compares usernames case-sensitively


class TestRopcContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, dot):
        @contextmanager
        def outage():
            dot.stop()
            try:
                yield
            finally:
                dot.start()

        return ContractCase(
            connector=build_connector(app, ropc_connector(dot)),
            identifier=ALICE,
            password=dot.users[ALICE],
            wrong_password=dot.users[ALICE] + "x",
            unknown_identifier="nobody@example.com",
            expected_email=ALICE,
            outage=outage,
            secrets=(dot.client_secret,),
        )


def migrated_user(app, email: str) -> tuple[User, LegacyLink, PasswordCredential]:
    with app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return user, LegacyLink.get(LegacyLink.user == user), PasswordCredential.get_or_none(
            PasswordCredential.user == user)


def test_a_disabled_legacy_account_is_refused(app, dot):
    connector = build_connector(app, ropc_connector(dot))
    with pytest.raises(InvalidCredentials):
        connector.verify(DAVE, dot.users[DAVE])  # his real password


def test_the_subject_is_the_legacy_sub_and_differs_between_users(app, dot):
    connector = build_connector(app, ropc_connector(dot))
    alice = connector.verify(ALICE, dot.users[ALICE])
    bob = connector.verify("bob@example.com", dot.users["bob@example.com"])
    assert alice.subject == dot.profiles[ALICE]["sub"]
    assert bob.subject == dot.profiles["bob@example.com"]["sub"]
    assert alice.subject != bob.subject


@pytest.mark.parametrize(
    ("send_identifier", "migrates"),
    [pytest.param(None, False, id="default-normalised"), pytest.param("as_typed", True, id="as_typed")],
)
def test_a_case_sensitive_legacy_store_needs_the_identifier_as_typed(
        make_app, dot, send_identifier, migrates):
    settings = {"send_identifier": send_identifier} if send_identifier else {}
    app = make_app(DEPLOYMENT=deployment({"legacy": ropc_connector(dot, **settings)}))
    walker = SignIn(app.test_client())

    response = walker.sign_in(MIXED, dot.users[MIXED])

    if not migrates:
        assert response.status_code == 200
        assert WRONG_CREDENTIALS in page_text(response)
        assert count_users(app) == 0
        return
    walker.code_from(response)  # back at the app with a code
    user, link, _credential = migrated_user(app, MIXED.lower())
    assert (user.given_name, user.family_name) == ("Mixed", "Case")
    assert link.subject == dot.profiles[MIXED]["sub"]


def test_a_wrong_client_secret_is_ferrys_fault_not_the_users(make_app, dot):
    table = ropc_connector(dot, client_secret="not-the-secret")
    app = make_app(DEPLOYMENT=deployment({"legacy": table}),
                   FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")
    with pytest.raises(LegacyUnavailable) as refused:
        build_connector(app, table).verify(ALICE, dot.users[ALICE])
    assert "invalid_client" in refused.value.reason

    answers = sign_in_attempts(app, ALICE, dot.users[ALICE], times=3)
    assert all(a.status_code == 200 and UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(app) == 0
    assert retry_after(app, ALICE) == 0


@pytest.mark.parametrize(("client_auth", "works"), [("basic", True), ("post", True), ("none", False)])
def test_client_authentication_styles_at_a_confidential_client(app, dot, client_auth, works):
    connector = build_connector(app, ropc_connector(dot, client_auth=client_auth))
    if works:
        assert connector.verify(ALICE, dot.users[ALICE]).subject == dot.profiles[ALICE]["sub"]
        with pytest.raises(InvalidCredentials):
            connector.verify(ALICE, "wrong")
    else:  # a public-client request for a confidential client: Ferry's settings are wrong
        with pytest.raises(LegacyUnavailable):
            connector.verify(ALICE, dot.users[ALICE])


def test_client_auth_post_really_sends_the_secret_in_the_body(app, dot):
    table = ropc_connector(dot, client_auth="post", client_secret="not-the-secret")
    with pytest.raises(LegacyUnavailable):
        build_connector(app, table).verify(ALICE, dot.users[ALICE])


@pytest.mark.parametrize("client_auth", ["basic", "post", "none"])
def test_what_the_grant_request_carries(app, scripted_idp, client_auth):
    scripted_idp.routes["/token"] = Reply(200, {"access_token": "at", "token_type": "Bearer"})
    scripted_idp.routes["/userinfo"] = Reply(200, {"sub": "42", "email": ALICE})
    connector = build_connector(app, {
        "type": "ropc", "token_url": scripted_idp.url("/token"),
        "userinfo_url": scripted_idp.url("/userinfo"), "client_id": "ferry",
        "client_secret": "s3cret", "client_auth": client_auth,
        "extra_params": {"audience": "legacy-api"},
    })

    connector.verify("Alice@Example.com", "pass word+%&=")

    [token] = scripted_idp.calls("/token")
    form = token.form()
    assert form.pop("grant_type") == "password"
    assert form.pop("username") == "Alice@Example.com"  # the connector sends what it is given
    assert form.pop("password") == "pass word+%&="
    assert form.pop("scope") == "openid email profile"
    assert form.pop("audience") == "legacy-api"
    basic = "Basic " + base64.b64encode(b"ferry:s3cret").decode()
    expected = {
        "basic": ({}, basic),
        "post": ({"client_id": "ferry", "client_secret": "s3cret"}, None),
        "none": ({"client_id": "ferry"}, None),
    }[client_auth]
    assert (form, token.headers.get("Authorization")) == expected
    [userinfo] = scripted_idp.calls("/userinfo")
    assert userinfo.headers["Authorization"] == "Bearer at"


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        pytest.param(None, {"given_name": "Alice", "family_name": "Liddell", "email_verified": True},
                     id="default-mapping"),
        pytest.param(
            {"email": "email", "given_name": "family_name|upper", "family_name": "given_name",
             "locale": "=en-GB"},
            {"given_name": "LIDDELL", "family_name": "Alice", "locale": "en-GB",
             "email_verified": False},
            id="custom-mapping",
        ),
    ],
)
def test_the_mapping_fills_the_local_user(make_app, dot, mapping, expected):
    settings = {"mapping": mapping} if mapping else {}
    app = make_app(DEPLOYMENT=deployment({"legacy": ropc_connector(dot, **settings)}))
    walker = SignIn(app.test_client())

    walker.code_from(walker.sign_in(ALICE, dot.users[ALICE]))

    user, link, credential = migrated_user(app, ALICE)
    assert {key: getattr(user, key) for key in expected} == expected
    assert (link.connector, link.subject) == ("legacy", dot.profiles[ALICE]["sub"])
    assert credential is not None and dot.users[ALICE] not in credential.hash
