"""A legacy password that fails Ferry's policy, in each mode of the ``password_policy`` step:
accepted and flagged, changed before going on, or replaced by a passkey (with a new password as
the way out, so nobody is locked out). The legacy store is a real CSV export (``hashes``)."""

from __future__ import annotations

import bcrypt
import pytest

from models import AuditEvent, db
from security.password_policy import PasswordPolicy
from tests.conftest import SignIn, deployment
from tests.connectors.hashes.legacy import hashes_table, people, write_csv
from tests.journeys.selfservice import NEW_PASSWORD, password_source, text

WEAK = "password1"  # among the most common passwords, and short enough to be guessed
STRONG = "correct horse battery staple"
ALICE, BOB = "alice@example.com", "bob@example.com"


def bcrypted(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture
def export(tmp_path):
    return write_csv(tmp_path / "users.csv", people(alice=bcrypted(WEAK), bob=bcrypted(STRONG)))


def policy_app(make_app, export, mode: str):
    tables = deployment({"legacy": hashes_table(export)})
    tables["journeys"] = {"sign-in": {"steps": {"policy": {"mode": mode}}}}
    return make_app(DEPLOYMENT=tables)


def decisions(app) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [row.details for row in AuditEvent.select().where(AuditEvent.event == "password.policy")]


def test_accept_lets_the_user_on_and_flags_it_in_the_audit_trail(make_app, export):
    app = policy_app(make_app, export, "accept")
    assert SignIn(app.test_client()).tokens(ALICE, WEAK)["id_token"]
    assert decisions(app) == [{"decision": "accepted", "problems": ["common"]}]
    assert password_source(app, ALICE) == "legacy:legacy"
    assert SignIn(app.test_client()).tokens(BOB, STRONG)["id_token"]
    assert len(decisions(app)) == 1  # a good password is not flagged


def test_change_asks_for_a_new_password_before_going_on(make_app, export):
    app = policy_app(make_app, export, "change")
    browser = SignIn(app.test_client())
    page = browser.sign_in(ALICE, WEAK)
    assert page.status_code == 200 and "Choose a new password" in text(page)
    assert "Not now" not in text(page)
    again = browser.post(password=WEAK, confirm=WEAK)
    assert "This password is too common" in text(again)
    done = browser.post(password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert browser.exchange(browser.code_from(done)).status_code == 200
    assert password_source(app, ALICE) == "local"
    assert decisions(app)[0]["decision"] == "change_required"
    assert SignIn(app.test_client()).tokens(ALICE, NEW_PASSWORD)["id_token"]
    assert "don't match" in text(SignIn(app.test_client()).sign_in(ALICE, WEAK))


def test_change_leaves_good_passwords_alone(make_app, export):
    app = policy_app(make_app, export, "change")
    assert SignIn(app.test_client()).tokens(BOB, STRONG)["id_token"]


def test_passkey_asks_for_a_passkey_and_a_new_password_is_the_way_out(make_app, export):
    app = policy_app(make_app, export, "passkey")
    browser = SignIn(app.test_client())
    browser.start()
    page = browser.post(decline_offers=False, identifier=ALICE, password=WEAK)
    body = text(page)
    assert 'data-webauthn="create"' in body and "Choose a new password instead" in body
    assert "Not now" not in body
    page = browser.post(skip="1")
    assert "Choose a new password" in text(page)
    done = browser.post(password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert browser.exchange(browser.code_from(done)).status_code == 200
    assert decisions(app)[0]["decision"] == "passkey_required"


def test_a_journey_that_asks_for_a_change_must_route_it(make_app, export):
    from settings.errors import ConfigError

    tables = deployment({"legacy": hashes_table(export)})
    tables["journeys"] = {"checked": {"start": "policy", "steps": {
        "policy": {"type": "password_policy", "mode": "change", "on": {"ok": "done"}},
        "done": {"type": "complete"}}}}
    with pytest.raises(ConfigError, match="outcome 'change' must be routed"):
        make_app(DEPLOYMENT=tables)


@pytest.mark.parametrize(("password", "problems"), [
    ("short", ["too_short"]),
    ("password", ["common"]),
    ("Password", ["common"]),  # case does not make a common password rare
    ("alice-in-wonderland", ["like_identifier"]),
    ("x" * 300, ["too_long"]),
    ("a perfectly fine passphrase", []),
])
def test_the_rules(password, problems):
    policy = PasswordPolicy(min_length=8, max_length=256, reject_common=True)
    assert policy.problems(password, ("alice@example.com", None)) == problems


def test_the_common_list_can_be_turned_off():
    assert PasswordPolicy(reject_common=False).problems("password") == []
