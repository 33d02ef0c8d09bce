"""The ``hashes`` connector against the password-connector contract, with each kind of source: a CSV
export, Firebase's ``auth:export`` JSON, a SQLite file and a PostgreSQL table (made unreachable by
cutting a relay)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.connectors.contract import ContractCase, PasswordConnectorContract, build_connector
from tests.connectors.hashes.legacy import (
    ALICE,
    FIREBASE,
    FIREBASE_HASH,
    FIREBASE_PASSWORD,
    FIREBASE_SALT,
    PASSWORD,
    PG_PASSWORD,
    WRONG,
    hashes_table,
    moved_away,
    postgres_table,
    sqlite_table,
)
from tests.connectors.hashes.relay import TcpRelay


class TestHashesFileContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, export):
        return ContractCase(
            connector=build_connector(app, hashes_table(export, active_field="is_active")),
            identifier=ALICE, password=PASSWORD, wrong_password=WRONG,
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=lambda: moved_away(export),
        )


class TestHashesFirebaseContract(PasswordConnectorContract):
    """Firebase's auth:export JSON, its published sample account, and its secret signer key."""

    @pytest.fixture
    def contract_case(self, app, tmp_path):
        path = tmp_path / "firebase.json"
        path.write_text(json.dumps({"users": [
            {"localId": "kYi4EvWQlQTKSfnJ3dRSP6IH3ed2", "email": "user1@test.com", "emailVerified": False,
             "passwordHash": FIREBASE_HASH, "salt": FIREBASE_SALT, "displayName": "Test User 1",
             "createdAt": "1508893925000", "disabled": False},
            {"localId": "phone-only", "phoneNumber": "+15555550100"},  # no e-mail: skipped
        ]}))
        return ContractCase(
            connector=build_connector(app, {
                "type": "hashes", "source": "json", "path": str(path), "identifier_field": "email",
                "hash_field": "passwordHash", "salt_field": "salt", "subject_field": "localId",
                "disabled_field": "disabled", "schemes": ["firebase_scrypt"], **FIREBASE,
                "mapping": {"email": "email", "email_verified": "emailVerified|bool", "name": "displayName"},
            }),
            identifier="user1@test.com", password=FIREBASE_PASSWORD, wrong_password="user1Password",
            unknown_identifier="nobody@example.com", expected_email="user1@test.com",
            outage=lambda: moved_away(path), secrets=(FIREBASE["firebase_signer_key"],),
        )


class TestHashesSqliteContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, legacy_sqlite):
        return ContractCase(
            connector=build_connector(app, sqlite_table(legacy_sqlite)),
            identifier=ALICE, password=PASSWORD, wrong_password=WRONG,
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=lambda: moved_away(legacy_sqlite),
        )


@pytest.mark.postgres
class TestHashesPostgresContract(PasswordConnectorContract):
    @pytest.fixture
    def contract_case(self, app, legacy_postgres):
        parts = urlsplit(legacy_postgres)
        relay = TcpRelay(parts.hostname, parts.port or 5432)
        through_relay = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + f":{relay.port}")
        yield ContractCase(
            connector=build_connector(app, postgres_table(urlunsplit(through_relay))),
            identifier=ALICE, password=PASSWORD, wrong_password=WRONG,
            unknown_identifier="nobody@example.com", expected_email=ALICE,
            outage=relay.cut, secrets=(PG_PASSWORD,),
        )
        relay.stop()
