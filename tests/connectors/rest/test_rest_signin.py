"""The ``rest`` connector in whole sign-ins through Ferry (both protocols), and its settings
checked at start-up.
"""

from __future__ import annotations

import pytest

from models import LegacyLink, PasswordCredential, User, db
from settings.errors import ConfigError
from tests.accounts import count_users
from tests.conftest import SignIn, deployment
from tests.connectors.conftest import (
    UNAVAILABLE,
    WRONG_CREDENTIALS,
    page_text,
    retry_after,
    sign_in_attempts,
)
from tests.connectors.contract import build_connector
from tests.connectors.rest.conftest import (
    ALICE,
    PLUGIN,
    ferry_table,
    password,
    plugin_table,
)


# -- whole sign-ins -----------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["ferry", PLUGIN])
def test_a_user_migrates_through_the_whole_sign_in(make_app, legacy, protocol):
    table = ferry_table(legacy) if protocol == "ferry" else plugin_table(legacy)
    app = make_app(DEPLOYMENT=deployment({"old-api": table}))
    walker = SignIn(app.test_client())

    walker.code_from(walker.sign_in(ALICE, password(legacy, "alice")))

    with app.app_context(), db.connection_context():
        user = User.get(User.email == ALICE)
        link = LegacyLink.get(LegacyLink.user == user)
        credential = PasswordCredential.get(PasswordCredential.user == user)
    assert (user.given_name, user.family_name, user.email_verified) == ("Alice", "Liddell", True)
    assert (link.connector, link.subject) == ("old-api", "1001")
    assert password(legacy, "alice") not in credential.hash


@pytest.mark.parametrize("protocol", ["ferry", PLUGIN])
def test_failed_sign_ins_create_no_user(make_app, legacy, protocol):
    table = ferry_table(legacy) if protocol == "ferry" else plugin_table(legacy)
    app = make_app(DEPLOYMENT=deployment({"old-api": table}),
                   FAILED_SIGNINS_PER_IDENTIFIER="3 per 15 minutes")

    [wrong] = sign_in_attempts(app, ALICE, "not-alices-password", times=1)
    [disabled] = sign_in_attempts(app, "dave@example.com", password(legacy, "dave"), times=1)
    legacy.fault = "500"
    down = sign_in_attempts(app, "bob@example.com", password(legacy, "bob"), times=4)

    assert WRONG_CREDENTIALS in page_text(wrong)
    assert "Your account is disabled" in page_text(disabled)
    assert all(UNAVAILABLE in page_text(answer) for answer in down)
    assert retry_after(app, "bob@example.com") == 0  # the outage is not counted against bob
    assert count_users(app) == 0


# -- settings -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("settings", "problem"), [
    ({"base_url": "legacy.example.com/api"}, "http(s) URL"),
    ({"basic_username": "ferry", "basic_password": "x"}, "not both"),
    ({"bearer_token": None, "basic_username": "ferry"}, "go together"),
    ({"verify_with_id": True}, "only used with"),
    ({"bearer_token": ""}, "bearer_token"),  # an unset environment variable, say
    ({"headers": {"Authorization": "Token abc"}}, "Authorization"),
    ({"protocol": "soap"}, "protocol"),
    ({"token_url": "https://x"}, "unknown setting"),
])
def test_settings_are_checked_at_start_up(app, settings, problem):
    table = {"type": "rest", "base_url": "https://legacy.example.com/api", "bearer_token": "t",
             **settings}
    with pytest.raises(ConfigError) as invalid:
        build_connector(app, {k: v for k, v in table.items() if v is not None})
    assert problem in str(invalid.value)
