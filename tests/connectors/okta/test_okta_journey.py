"""The ``okta`` connector in the whole sign-in against the fake Okta: a user migrates in both modes,
MFA creates the user only after the right code, expired transactions, locked and refused users, and
Okta rate-limiting Ferry."""

from __future__ import annotations

import pytest

from models import LegacyLink, User, db
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import (
    UNAVAILABLE,
    WRONG_CREDENTIALS,
    page_text,
    retry_after,
    sign_in_attempts,
)
from tests.connectors.okta.org import (
    ALICE,
    ALICE_PASSWORD,
    CHESHIRE,
    CHESHIRE_PASSWORD,
    HATTER,
    HATTER_PASSWORD,
    LOCKED_NOTICE,
    LORINA,
    LORINA_PASSWORD,
    RESET_NOTICE,
    mfa_answer,
    okta_table,
)
from tests.connectors.scripted_idp import Reply
from tests.peers.okta_fake import OktaFake
from tests.peers.okta_users import totp, wrong_totp


# -- the whole sign-in ---------------------------------------------------------------------------
def okta_app(make_app, fake: OktaFake, **settings):
    return make_app(DEPLOYMENT=deployment({"corp-okta": okta_table(fake, **settings)}))


def migrated(app, email: str) -> tuple[User, LegacyLink]:
    with app.app_context(), db.connection_context():
        user = User.get(User.email == email)
        return user, LegacyLink.get(LegacyLink.user == user)


@pytest.mark.parametrize("mode", ["authn", "ropc"])
def test_a_user_migrates_from_okta(make_app, okta, mode):
    settings = {"mode": "ropc", "client_id": okta.client_id,
                "client_secret": okta.client_secret} if mode == "ropc" else {}
    app = okta_app(make_app, okta, **settings)
    walker = SignIn(app.test_client())

    walker.code_from(walker.sign_in(ALICE, ALICE_PASSWORD))

    user, link = migrated(app, ALICE)
    assert (user.given_name, user.family_name) == ("Alice", "Liddell")
    assert (link.connector, link.subject) == ("corp-okta", okta.user(ALICE).id)


def test_okta_mfa_in_the_journey_creates_the_user_only_after_the_right_code(make_app, okta):
    app = okta_app(make_app, okta)
    walker = SignIn(app.test_client())
    secret = okta.totp_secret(HATTER)

    asked = walker.sign_in(HATTER, HATTER_PASSWORD)
    assert asked.status_code == 200 and "Verification code" in page_text(asked)
    assert count_users(app) == 0

    wrong = walker.post(code=wrong_totp(secret))
    assert wrong.status_code == 200 and "That code is not right" in page_text(wrong)
    assert "Verification code" in page_text(wrong)
    assert count_users(app) == 0

    walker.code_from(walker.post(code=totp(secret)))
    user, link = migrated(app, HATTER)
    assert link.subject == okta.user(HATTER).id
    # The password typed before the code page was kept (hashed): the next sign-in is local.
    okta.stop()
    again = SignIn(app.test_client())
    again.code_from(again.sign_in(HATTER, HATTER_PASSWORD))


def test_an_expired_okta_transaction_sends_the_user_to_try_later(make_app, okta):
    app = okta_app(make_app, okta)
    walker = SignIn(app.test_client())
    walker.sign_in(HATTER, HATTER_PASSWORD)
    okta.expire_transactions()

    answer = walker.post(code=totp(okta.totp_secret(HATTER)))

    assert answer.status_code == 200 and UNAVAILABLE in page_text(answer)
    assert count_users(app) == 0


def test_okta_locking_the_user_during_mfa_shows_the_locked_message(make_app, scripted_idp):
    scripted_idp.routes["/api/v1/authn"] = mfa_answer(
        scripted_idp.url("/api/v1/authn/factors/ostf1/verify"))
    scripted_idp.routes["/api/v1/authn/factors/ostf1/verify"] = Reply(
        403, {"errorCode": "E0000069", "errorSummary": "User Locked", "errorCauses": []})
    app = make_app(DEPLOYMENT=deployment({"corp-okta": okta_table(scripted_idp)}))
    walker = SignIn(app.test_client())
    walker.sign_in(HATTER, HATTER_PASSWORD)

    answer = walker.post(code="123456")

    assert answer.status_code == 200 and LOCKED_NOTICE in page_text(answer)
    assert count_users(app) == 0


@pytest.mark.parametrize(("identifier", "password", "notice"), [
    pytest.param(LORINA, LORINA_PASSWORD, LOCKED_NOTICE, id="locked-out"),
    pytest.param(CHESHIRE, CHESHIRE_PASSWORD, RESET_NOTICE, id="push-only-mfa"),
    pytest.param(ALICE, "not-her-password", WRONG_CREDENTIALS, id="wrong-password"),
])
def test_a_refused_sign_in_shows_why_and_creates_nobody(make_app, okta, identifier, password, notice):
    app = okta_app(make_app, okta)
    answer = SignIn(app.test_client()).sign_in(identifier, password)
    assert answer.status_code == 200 and notice in page_text(answer)
    assert count_users(app) == 0


def test_okta_rate_limiting_ferry_is_never_the_users_fault(make_app, okta):
    app = make_app(DEPLOYMENT=deployment({"corp-okta": okta_table(okta)}),
                   FAILED_SIGNINS_PER_IDENTIFIER="2 per 15 minutes")
    okta.rate_limited = True

    answers = sign_in_attempts(app, ALICE, ALICE_PASSWORD, times=3)

    assert all(a.status_code == 200 and UNAVAILABLE in page_text(a) for a in answers)
    assert count_users(app) == 0
    assert retry_after(app, ALICE) == 0
