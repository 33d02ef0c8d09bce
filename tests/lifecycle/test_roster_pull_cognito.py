"""``ferry roster pull`` of a Cognito pool (``listing = true``) against moto's server, IAM
enforced: ListUsers pages signed with keys allowed it, a pool that hangs mid-way (SIGSTOP)."""

from __future__ import annotations

import pytest

from connectors import instances
from models import RosterEntry, db
from settings.errors import ConfigError
from tests.conftest import deployment
from tests.peers.cognito import MotoCognito, Pool

PEOPLE = 23


@pytest.fixture(scope="module")
def cognito():
    with MotoCognito() as server:
        yield server


@pytest.fixture(scope="module")
def pool(cognito) -> tuple[Pool, tuple[str, str], tuple[str, str]]:
    pool = cognito.pool()
    for n in range(PEOPLE):
        pool.user(f"user{n:02d}@example.com", "Pass-word-1!", given_name=f"User {n}",
                  phone_number=f"+1555000{n:04d}")
    pool.disabled_user("dave@example.com", "Pass-word-1!")
    keys, powerless = cognito.iam_keys("cognito-idp:ListUsers"), cognito.iam_keys()
    cognito.enforce_iam()
    return pool, keys, powerless


def make(make_app, tmp_path, cognito, pool, keys, **settings):
    table = {"type": "cognito", "user_pool_id": pool.id, "client_id": pool.client_id,
             "client_secret": pool.client_secret, "endpoint_url": cognito.url,
             "connect_timeout": 0.5, "read_timeout": 0.5, "listing": True,
             "aws_access_key_id": keys[0], "aws_secret_access_key": keys[1],
             "breaker_failures": 100,
             "mapping": {"email": "email", "given_name": "given_name", "phone": "phone_number"},
             **settings}
    app = make_app(DEPLOYMENT=deployment({"legacy": table}))
    app.instance_path = str(tmp_path / "instance")
    return app


def pull(app, *args: str):
    result = app.test_cli_runner().invoke(args=["ferry", "roster", "pull", "legacy",
                                                "--page-size", "10", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def entries(app) -> list[RosterEntry]:
    with app.app_context(), db.connection_context():
        return list(RosterEntry.select().order_by(RosterEntry.id))


def test_every_user_of_the_pool_is_listed_once(make_app, tmp_path, cognito, pool):
    pool, keys, _ = pool
    app = make(make_app, tmp_path, cognito, pool, keys)

    result = pull(app)

    assert result.exit_code == 0, result.output
    assert f"listed {PEOPLE + 1} users in 3 pages" in result.stdout
    stored = entries(app)
    assert sorted(e.subject for e in stored) == sorted(pool.subs.values())
    first = next(e for e in stored if e.subject == pool.subs["user00@example.com"])
    assert (first.email, first.phone) == ("user00@example.com", "+15550000000")
    assert first.attributes["cognito:status"] == "CONFIRMED"
    assert first.attributes["cognito:username"] == "user00@example.com"
    assert "cognito:last_modified" in first.attributes
    dave = next(e for e in stored if e.email == "dave@example.com")
    assert dave.attributes["cognito:enabled"] is False

    again = pull(app)
    assert f"0 added, 0 updated, {PEOPLE + 1} unchanged" in again.stdout, again.output


def test_a_pool_that_hangs_mid_way_keeps_the_pages_and_the_rerun_completes(
        make_app, tmp_path, cognito, pool):
    pool, keys, _ = pool
    app = make(make_app, tmp_path, cognito, pool, keys)
    with app.app_context():
        connector = instances()["legacy"]
    original, calls = connector.list_page, []

    def hang_on_the_second_page(cursor, size):
        calls.append(cursor)
        if len(calls) == 2:
            with cognito.frozen():
                return original(cursor, size)
        return original(cursor, size)

    connector.list_page = hang_on_the_second_page
    try:
        failed = pull(app)
    finally:
        connector.list_page = original

    assert failed.exit_code == 1
    assert "legacy is unavailable on page 2: timed out talking to" in failed.stderr
    assert "(ListUsers); the 1 page before it is stored" in failed.stderr
    assert len(entries(app)) == 10

    resumed = pull(app)

    assert resumed.exit_code == 0, resumed.output
    assert "resuming the pull of legacy after page 1" in resumed.stderr
    subjects = [e.subject for e in entries(app)]
    assert len(subjects) == len(set(subjects)) == PEOPLE + 1


def test_keys_without_list_users_and_a_connector_without_listing_exit_1(
        make_app, tmp_path, cognito, pool):
    pool, _, powerless = pool
    denied = pull(make(make_app, tmp_path, cognito, pool, powerless))
    assert denied.exit_code == 1
    assert "does not allow cognito-idp:ListUsers" in denied.stderr

    plain = pull(make(make_app, tmp_path, cognito, pool, (None, None), listing=False,
                      aws_access_key_id=None, aws_secret_access_key=None))
    assert plain.exit_code == 1
    assert "cannot list its users: set listing = true" in plain.stderr


def test_aws_keys_are_accepted_with_listing_alone(make_app, tmp_path, cognito, pool):
    pool, keys, _ = pool
    make(make_app, tmp_path, cognito, pool, keys)  # no lookup = true: starts
    with pytest.raises(ConfigError, match="used only with lookup = true"):
        make(make_app, tmp_path, cognito, pool, keys, listing=False)
