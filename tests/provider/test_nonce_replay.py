"""A nonce buys one code per app (OIDC Core 15.5.2): the code's unique index refuses a replay,
on SQLite and PostgreSQL, and the app hears ``invalid_request`` with its ``state`` and ``iss``;
nothing half-made is left. Migration 11 adds the index over a database that holds duplicates."""

from __future__ import annotations

import pytest

from models import AuditEvent, AuthorizationCode, db, migrations
from models.database import open_database
from tests.accounts import create_local_user
from tests.provider.apps import EMAIL, PASSWORD, provider_deployment, query, walker


@pytest.fixture
def app(make_app, database_url):
    built = make_app(database_url, DEPLOYMENT=provider_deployment())
    create_local_user(built, EMAIL, PASSWORD)
    return built


def _codes(nonce: str) -> list[AuthorizationCode]:
    with db.connection_context():
        return list(AuthorizationCode.select().where(AuthorizationCode.nonce == nonce))


def test_a_replayed_nonce_gets_no_second_code(app):
    first = walker(app.test_client())
    tokens = first.tokens(EMAIL, PASSWORD)
    assert first.id_token_claims(tokens["id_token"])["nonce"] == first.nonce

    replay = walker(app.test_client())  # another browser, the same nonce
    answer = query(replay.sign_in(EMAIL, PASSWORD, nonce=first.nonce, state="again"))
    assert answer["error"] == "invalid_request" and "nonce" in answer["error_description"]
    assert answer["state"] == "again" and answer["iss"] == "http://localhost"
    assert "code" not in answer
    assert len(_codes(first.nonce)) == 1
    with db.connection_context():
        assert AuditEvent.select().where(AuditEvent.event == "oauth.nonce_replayed").count() == 1


def test_a_signed_in_user_replaying_a_nonce_gets_the_error_not_a_code(app):
    browser = walker(app.test_client())
    browser.tokens(EMAIL, PASSWORD)
    silent = query(browser.authorize(nonce=browser.nonce, prompt="none"))
    assert silent["error"] == "invalid_request" and "code" not in silent
    fresh = query(browser.authorize())  # the same session, a new nonce: a code at once
    assert "code" in fresh and "error" not in fresh


def test_the_same_nonce_in_two_apps_and_codes_without_one_are_fine(app):
    nonce = "shared-nonce-value"
    for name in ("test-app", "offline"):
        answer = query(walker(app.test_client(), name).sign_in(EMAIL, PASSWORD, nonce=nonce))
        assert "code" in answer, answer
    for _ in range(2):  # plain OAuth 2.0 codes carry no nonce: the index does not bind them
        answer = query(walker(app.test_client()).sign_in(EMAIL, PASSWORD, nonce=None, scope="email"))
        assert "code" in answer, answer
    assert sorted(code.client_id for code in _codes(nonce)) == ["offline", "test-app"]


def test_migration_11_keeps_the_newest_of_duplicate_nonces(database_url):
    database = open_database(database_url)
    mark = "%s" if "postgres" in database_url else "?"
    with database.connection_context():
        with database.atomic():
            migrations._ensure_table(database)
            for module in migrations.available():
                if module.VERSION < 11:
                    module.upgrade(database)
                    database.execute_sql('INSERT INTO "schema_version" VALUES '  # noqa: S608 - placeholders only
                                         f"({mark}, CURRENT_TIMESTAMP)", (module.VERSION,))
        database.execute_sql(
            'INSERT INTO "user" ("id", "email", "email_verified", "phone_verified", "attributes", '  # noqa: S608 - placeholders only
            f'"status", "created_at", "updated_at", "signin_count") VALUES ({", ".join([mark] * 9)})',
            ("u0", "ada@example.com", True, False, "{}", "active", "2026-01-01", "2026-01-01", 0))
        database.execute_sql(
            'INSERT INTO "oauth_client" ("client_id", "name", "redirect_uris", '  # noqa: S608 - placeholders only
            f'"post_logout_redirect_uris", "scopes", "journey", "settings", "source", "updated_at") '
            f'VALUES ({", ".join([mark] * 9)})',
            ("app", "App", "[]", "[]", "[]", "sign_in", "{}", "file", "2026-01-01"))
        ten, later = "2026-01-01 10:00:00", "2026-01-01 10:05:00"
        for code, nonce, expires in (("c1", "n", ten), ("c2", "n", later), ("c3", "other", ten),
                                     ("c4", None, ten), ("c5", None, ten)):
            database.execute_sql(
                'INSERT INTO "authorization_code" ("code_hash", "client_id", "user_id", "redirect_uri", '  # noqa: S608
                f'"scope", "nonce", "auth_time", "amr", "expires_at") VALUES ({", ".join([mark] * 9)})',
                (code, "app", "u0", "http://x/cb", "openid", nonce, 0, "[]", expires))
        assert migrations.upgrade(database) == [m.VERSION for m in migrations.available() if m.VERSION >= 11]
        rows = database.execute_sql('SELECT "code_hash", "nonce" FROM "authorization_code" '
                                    'ORDER BY "code_hash"').fetchall()
        assert [tuple(row) for row in rows] == [("c1", None), ("c2", "n"), ("c3", "other"),
                                                ("c4", None), ("c5", None)]
        with pytest.raises(Exception, match="(?i)unique"):
            with database.atomic():
                database.execute_sql(
                    'INSERT INTO "authorization_code" ("code_hash", "client_id", "user_id", '  # noqa: S608
                    f'"redirect_uri", "scope", "nonce", "auth_time", "amr", "expires_at") VALUES '
                    f'({", ".join([mark] * 9)})',
                    ("c6", "app", "u0", "http://x/cb", "openid", "n", 0, "[]", "2026-01-01 11:00:00"))
    if hasattr(database, "close_all"):
        database.close_all()
