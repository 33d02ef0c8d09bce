"""The ``cognito`` connector's lookup (``lookup = true``) against moto's Cognito, IAM enforced.

The pool's server checks SigV4 signatures and IAM policies here (``MotoCognito.enforce_iam``),
as AWS does: the lookup's signed ``ListUsers`` needs keys allowed it, while the password path
stays unsigned. Wrong keys, a policy without ``ListUsers`` and a pool that is down are real
refusals and real outages, not mocks. What moto cannot be made to answer (federated profiles,
throttling, a filter Cognito rejects, answers of the wrong shape) a scripted pool plays.
"""

from __future__ import annotations

import logging

import pytest

from connectors import AccountBlocked, LegacyUnavailable
from connectors.cognito.lookup import FILTER_MAX, email_filter
from models import LegacyLink, PasswordCredential, User, db
from settings.errors import ConfigError
from tests.accounts import count_users
from tests.authenticators.mail import MailServer
from tests.conftest import SPA_REDIRECT, SignIn, deployment
from tests.connectors.cognito.scripted_pool import AMZ_JSON, by_operation, calls, error, scripted_table
from tests.connectors.contract import build_connector, log_text
from tests.connectors.scripted_idp import Reply, closed_port_url
from tests.journeys.test_sign_in_with_code import ask_for_code, code_deployment
from tests.peers.cognito import MotoCognito, Pool
from users.mapping import map_claims

ALICE, BOB = "alice@example.com", "bob@example.com"  # Bob's address was never verified at Cognito
DAVE, UMA = "dave@example.com", "uma@example.com"  # disabled; signed up, never confirmed
FRED = "fred@example.com"  # still on the temporary password of AdminCreateUser
TWIN = "twin@example.com"  # the e-mail of two users
PASSWORDS = {ALICE: "Alice-Pass-1!", BOB: "Bob-Pass-1!", DAVE: "Dave-Pass-1!", UMA: "Uma-Pass-1!",
             FRED: "Fred-Temp-1!"}
MAPPING = {"email": "email", "email_verified": "email_verified|bool", "given_name": "given_name",
           "phone": "phone_number", "employee_id": "custom:employee_id"}


class Keys:
    lookup: tuple[str, str]  # allowed cognito-idp:ListUsers
    powerless: tuple[str, str]  # allowed nothing


@pytest.fixture(scope="module")
def cognito():
    with MotoCognito() as server:
        yield server


@pytest.fixture(scope="module")
def keys(cognito) -> Keys:
    made = Keys()
    made.lookup = cognito.iam_keys("cognito-idp:ListUsers")
    made.powerless = cognito.iam_keys()
    return made


@pytest.fixture(scope="module")
def pool(cognito, keys) -> Pool:
    pool = cognito.pool(Schema=[{"Name": "employee_id", "AttributeDataType": "String",
                                 "Mutable": True}])
    pool.user(ALICE, PASSWORDS[ALICE], given_name="Alice", phone_number="+15555550123",
              **{"custom:employee_id": "E-42"})
    pool.user(BOB, PASSWORDS[BOB], given_name="Bob", email_verified="false")
    pool.disabled_user(DAVE, PASSWORDS[DAVE])
    pool.unconfirmed_user(UMA, PASSWORDS[UMA])
    pool.user(FRED, PASSWORDS[FRED], permanent=False)
    pool.user("twin-one", "Twin-Pass-1!", email=TWIN)
    pool.user("twin-two", "Twin-Pass-2!", email=TWIN)
    cognito.enforce_iam()  # from here on, as at AWS: signed admin calls, IAM policies
    return pool


def lookup_table(cognito: MotoCognito, pool: Pool, keys: tuple[str, str] | None, **settings) -> dict:
    table = {
        "type": "cognito", "user_pool_id": pool.id, "client_id": pool.client_id,
        "client_secret": pool.client_secret, "endpoint_url": cognito.url,
        "connect_timeout": 0.5, "read_timeout": 0.5, "lookup": True, "mapping": MAPPING,
    }
    if keys is not None:
        table["aws_access_key_id"], table["aws_secret_access_key"] = keys
    return {**table, **settings}


@pytest.fixture
def connector(app, cognito, pool, keys):
    return build_connector(app, lookup_table(cognito, pool, keys.lookup))


# -- what a lookup finds ----------------------------------------------------------------------
def test_a_user_is_found_by_email_as_a_password_sign_in_would_see_them(connector, pool):
    assert connector.supports_lookup

    found = connector.find(ALICE)
    signed_in = connector.check_password(ALICE, PASSWORDS[ALICE])

    assert found.connector == "legacy"
    assert found.subject == signed_in.subject == pool.subs[ALICE]  # one identity, both ways
    assert found.claims == signed_in.claims
    assert found.claims["cognito:username"] == ALICE
    assert map_claims(found.claims, connector.mapping) == {
        "email": ALICE, "email_verified": True, "given_name": "Alice", "phone": "+15555550123",
        "employee_id": "E-42"}


def test_a_user_on_a_temporary_password_is_found(connector, pool):
    # The password path refuses them (password_change_required); a code proves them anyway.
    assert connector.find(FRED).subject == pool.subs[FRED]


def test_nobody_is_none(connector):
    assert connector.find("nobody@example.com") is None
    assert connector.find("alice@example") is None  # a prefix is no match


@pytest.mark.parametrize("identifier", [
    pytest.param(ALICE + "\x00", id="nul"),
    pytest.param(ALICE + "\n", id="newline"),
    pytest.param("alice\r\n@example.com", id="crlf"),
    pytest.param("a" * FILTER_MAX + "@example.com", id="longer-than-a-filter"),
])
def test_addresses_ferry_does_not_search_with_are_nobody(connector, identifier):
    assert connector.find(identifier) is None


def test_the_filter_escapes_quotes_and_backslashes():
    assert email_filter('o"hara\\x@example.com') == 'email = "o\\"hara\\\\x@example.com"'
    assert email_filter(ALICE) == 'email = "alice@example.com"'
    assert email_filter("") is None
    longest = "a" * (FILTER_MAX - len('email = ""'))
    assert email_filter(longest) is not None and email_filter(longest + "a") is None


@pytest.mark.parametrize("identifier", [DAVE, UMA], ids=["disabled", "unconfirmed"])
def test_accounts_that_cannot_sign_in_at_cognito_are_blocked(connector, identifier):
    with pytest.raises(AccountBlocked) as blocked:
        connector.find(identifier)
    assert blocked.value.reason == "disabled"


def test_an_address_of_two_users_is_nobody_and_the_operator_is_told(connector, pool, caplog):
    caplog.set_level(logging.WARNING)
    assert connector.find(TWIN) is None
    [warning] = [r for r in caplog.records if "Ferry picks none" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert pool.subs["twin-one"] in warning.getMessage()
    assert pool.subs["twin-two"] in warning.getMessage()


# -- when it cannot answer ------------------------------------------------------------------
def test_a_pool_that_hangs_is_unavailable(connector, cognito):
    with cognito.frozen(), pytest.raises(LegacyUnavailable) as unavailable:
        connector.find(ALICE)
    assert "timed out" in unavailable.value.reason and "ListUsers" in unavailable.value.reason


def test_nobody_listening_is_unavailable(app, cognito, pool, keys):
    table = lookup_table(cognito, pool, keys.lookup, endpoint_url=closed_port_url(""))
    with pytest.raises(LegacyUnavailable) as unavailable:
        build_connector(app, table).find(ALICE)
    assert "could not connect" in unavailable.value.reason


@pytest.mark.parametrize(("which", "fix"), [
    pytest.param("unknown-key", "does not know the access key id", id="unknown-access-key"),
    pytest.param("wrong-secret", "does not belong to the access key id", id="wrong-secret"),
    pytest.param("no-policy", "does not allow cognito-idp:ListUsers", id="policy-without-listusers"),
])
def test_refused_credentials_are_unavailable_with_the_fix(app, cognito, pool, keys, caplog,
                                                          which, fix):
    caplog.set_level(logging.DEBUG)
    credentials = {"unknown-key": ("AKIAFERRYUNKNOWN0000", "not-a-secret-anyone-has"),
                   "wrong-secret": (keys.lookup[0], "wrong-" + keys.lookup[1]),
                   "no-policy": keys.powerless}[which]
    connector = build_connector(app, lookup_table(cognito, pool, credentials))

    with pytest.raises(LegacyUnavailable) as unavailable:
        connector.find(ALICE)

    assert fix in unavailable.value.reason
    assert any(r.levelno == logging.ERROR and fix in r.getMessage() for r in caplog.records)
    logged = log_text(caplog.records) + unavailable.value.reason
    assert credentials[1] not in logged and ALICE not in logged
    # Only the lookup is broken: the password path needs no AWS credentials.
    assert connector.verify(ALICE, PASSWORDS[ALICE]).subject == pool.subs[ALICE]


def test_the_circuit_breaker_counts_failed_lookups(app, cognito, pool, keys):
    connector = build_connector(app, lookup_table(cognito, pool, keys.powerless,
                                                  breaker_failures=2))
    for _ in range(2):
        with pytest.raises(LegacyUnavailable):
            connector.find(ALICE)
    with pytest.raises(LegacyUnavailable) as open_breaker:
        connector.find(ALICE)
    assert "circuit breaker open" in open_breaker.value.reason


# -- a scripted pool: what moto cannot be made to answer ----------------------------------------
def listed(*users: dict) -> Reply:
    return Reply(200, {"Users": list(users)}, AMZ_JSON)


def pool_user(sub: str, email: str = ALICE, status: str = "CONFIRMED", enabled: bool = True,
              verified: str = "true") -> dict:
    return {"Username": sub, "Enabled": enabled, "UserStatus": status,
            "Attributes": [{"Name": "sub", "Value": sub}, {"Name": "email", "Value": email},
                           {"Name": "email_verified", "Value": verified}]}


@pytest.fixture
def scripted(app, scripted_idp):
    """A pool whose ListUsers answers what ``scripted_idp.replies["ListUsers"]`` holds."""
    scripted_idp.replies = {}
    scripted_idp.routes["/"] = by_operation(scripted_idp.replies)
    table = scripted_table(scripted_idp, lookup=True, aws_access_key_id="AKIASCRIPTED00000000",
                           aws_secret_access_key="scripted-secret-key", breaker_failures=1)
    return scripted_idp, build_connector(app, table)


def test_the_search_is_signed_and_federated_profiles_are_not_candidates(scripted):
    idp, connector = scripted
    idp.replies["ListUsers"] = listed(pool_user("google_123", status="EXTERNAL_PROVIDER"),
                                      pool_user("u-42"))

    assert connector.find(ALICE).subject == "u-42"

    [search] = calls(idp, "ListUsers")
    assert search == {"UserPoolId": "eu-west-1_Scripted1", "Filter": 'email = "alice@example.com"',
                      "Limit": 10}
    authorization = idp.calls("/")[0].headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIASCRIPTED00000000/")


@pytest.mark.parametrize("users", [
    pytest.param([pool_user("u-42", email="someone.else@example.com")], id="someone-else"),
    pytest.param([pool_user("u-42", verified="false")], id="unverified-e-mail"),
    pytest.param([pool_user(f"u-{n}", status="EXTERNAL_PROVIDER") for n in range(2)],
                 id="only-federated-profiles"),
    pytest.param([pool_user("u-0")] + [pool_user(f"g-{n}", status="EXTERNAL_PROVIDER")
                                       for n in range(9)], id="a-full-page"),
])
def test_answers_that_name_nobody_for_sure_are_nobody(scripted, users):
    idp, connector = scripted
    idp.replies["ListUsers"] = listed(*users)
    assert connector.find(ALICE) is None


@pytest.mark.parametrize(("status", "enabled"), [("COMPROMISED", True), ("UNKNOWN", True),
                                                 ("CONFIRMED", False)])
def test_statuses_that_cannot_sign_in_are_blocked(scripted, status, enabled):
    idp, connector = scripted
    idp.replies["ListUsers"] = listed(pool_user("u-42", status=status, enabled=enabled))
    with pytest.raises(AccountBlocked):
        connector.find(ALICE)


@pytest.mark.parametrize(("reply", "reason", "outage"), [
    pytest.param(error("TooManyRequestsException", "Rate exceeded"), "TooManyRequestsException",
                 True, id="throttled"),
    pytest.param(error("InternalErrorException", "boom", 500), "500", True, id="500"),
    pytest.param(error("ExpiredTokenException", "The security token included in the request is "
                       "expired"), "have expired", True, id="expired-credentials"),
    pytest.param(Reply(200, {"Users": "alice"}, AMZ_JSON), "not Cognito's answer", True,
                 id="users-not-a-list"),
    pytest.param(listed({"Username": "u-42", "UserStatus": "CONFIRMED"}), "Attributes", True,
                 id="user-without-attributes"),
    pytest.param(error("InvalidParameterException", "Error while parsing filter."),
                 "refused the search", False, id="filter-refused"),
])
def test_failures_are_unavailable(scripted, reply, reason, outage):
    idp, connector = scripted
    idp.replies["ListUsers"] = reply
    with pytest.raises(LegacyUnavailable) as unavailable:
        connector.find(ALICE)
    assert reason in unavailable.value.reason and unavailable.value.outage is outage
    # breaker_failures = 1: an outage opens the breaker at once, a refused filter does not.
    idp.replies["ListUsers"] = listed(pool_user("u-42"))
    if outage:
        with pytest.raises(LegacyUnavailable, match="circuit breaker open"):
            connector.find(ALICE)
    else:
        assert connector.find(ALICE).subject == "u-42"


# -- the settings -------------------------------------------------------------------------
def test_the_default_credential_chain_is_used_without_keys(app, cognito, pool, keys, monkeypatch,
                                                           tmp_path):
    isolated_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys.lookup[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys.lookup[1])
    connector = build_connector(app, lookup_table(cognito, pool, None))
    assert connector.find(ALICE).subject == pool.subs[ALICE]


def test_no_credentials_anywhere_stops_start_up(make_app, cognito, pool, monkeypatch, tmp_path):
    isolated_aws_environment(monkeypatch, tmp_path)
    with pytest.raises(ConfigError, match="connectors.legacy.lookup: no AWS credentials"):
        make_app(DEPLOYMENT=deployment({"legacy": lookup_table(cognito, pool, None)}))


def isolated_aws_environment(monkeypatch, tmp_path) -> None:
    """boto3's default chain finds nothing but what the test puts in the environment."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize(("settings", "problem"), [
    pytest.param({"lookup": False}, "used only with lookup = true", id="keys-without-lookup"),
    pytest.param({"aws_secret_access_key": None}, "go together", id="key-id-alone"),
    pytest.param({"aws_access_key_id": "short"}, "aws_access_key_id", id="not-a-key-id"),
])
def test_key_settings_are_checked_at_start_up(make_app, cognito, pool, keys, settings, problem):
    table = lookup_table(cognito, pool, keys.lookup, **settings)
    table = {key: value for key, value in table.items() if value is not None}
    with pytest.raises(ConfigError) as invalid:
        make_app(DEPLOYMENT=deployment({"legacy": table}))
    assert problem in str(invalid.value)


def test_without_lookup_the_connector_cannot_look_users_up(make_app, app, cognito, pool):
    table = lookup_table(cognito, pool, None, lookup=False)
    connector = build_connector(app, table)
    assert not connector.supports_lookup
    with pytest.raises(LegacyUnavailable, match="lookup = true"):
        connector.find(ALICE)
    with pytest.raises(ConfigError, match="lookup_connector: 'legacy' cannot look users up"):
        make_app(DEPLOYMENT=code_deployment({"legacy": table}, lookup="legacy"))


# -- the shipped sign-in-with-code journey ------------------------------------------------------
def test_an_unverified_cognito_email_reads_as_unknown_by_default(make_app, cognito, pool, keys):
    """Anyone may have signed up at Cognito with Bob's address without owning it: linking that
    account to whoever proves the mailbox would let its password into Bob's new user."""
    connector = build_connector(make_app(), lookup_table(cognito, pool, keys.lookup))
    assert connector.find(BOB) is None
    assert connector.find(ALICE) is not None
    with MailServer() as mail:
        app = make_app(DEPLOYMENT=code_deployment(
            {"legacy": lookup_table(cognito, pool, keys.lookup)}, lookup="legacy"), **mail.config())
        ask_for_code(app, BOB)
        assert mail.received == []


def test_a_cognito_user_signs_in_with_a_code_to_their_cognito_email_and_is_created_verified(
        make_app, cognito, pool, keys):
    # Bob's address is unverified at Cognito: the operator opted in (lookup_unverified).
    table = lookup_table(cognito, pool, keys.lookup, lookup_unverified=True)
    with MailServer() as mail:
        app = make_app(DEPLOYMENT=code_deployment({"legacy": table}, lookup="legacy"),
                       **mail.config())
        browser = ask_for_code(app, "Bob@Example.com ")
        assert "If an account exists for bob@example.com, we sent a code to it." in \
            browser.page.get_data(as_text=True)
        assert count_users(app) == 0
        response = browser.post(code=mail.last_code(BOB))
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        browser.code_from(response)
        for blocked in (DAVE, UMA, TWIN):  # read like unknown addresses: nothing is sent
            ask_for_code(app, blocked)
        assert [m["X-Envelope-To"] for m in mail.received] == [BOB]

    with app.app_context(), db.connection_context():
        bob = User.get(User.email == BOB)
        assert (bob.email_verified, bob.given_name) == (True, "Bob")  # the code proved it
        link = LegacyLink.get(LegacyLink.user == bob)
        assert (link.connector, link.subject) == ("legacy", pool.subs[BOB])
        assert PasswordCredential.select().count() == 0  # no password was ever typed

    # Later, a password sign-in (another app, the default journey) finds the same identity.
    walker = SignIn(app.test_client(), client_id="spa", redirect_uri=SPA_REDIRECT,
                    client_secret=None)
    walker.code_from(walker.sign_in(BOB, PASSWORDS[BOB]))
    assert count_users(app) == 1
    with app.app_context(), db.connection_context():
        assert LegacyLink.get(LegacyLink.subject == pool.subs[BOB]).user_id == bob.id
        assert PasswordCredential.get(PasswordCredential.user == bob.id) is not None
