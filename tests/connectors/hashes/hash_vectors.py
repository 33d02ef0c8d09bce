"""Shared by the ``test_hash_*.py`` files: one stored hash in a JSON Lines export, checked through
a real ``hashes`` connector as a sign-in would check it, and the refusal a bad one gets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors import InvalidCredentials, LegacyUnavailable
from connectors.hashes import HashesConnector
from connectors.hashes.schemes import AUTO_DETECTED, FORMATS, Stored
from tests.connectors.contract import build_connector
from tests.connectors.hashes.legacy import ALICE, MAPPING, write_jsonl


@dataclass(frozen=True)
class Vector:
    """A hash and the password it was made from, by the software named in ``source``."""

    scheme: str
    stored: str
    password: str
    wrong: str
    source: str


def connector_for(app, tmp_path: Path, stored: str, schemes: list[str] | None = None) -> HashesConnector:
    """A ``hashes`` connector over an export holding alice with ``stored``; ``schemes`` by
    default: every prefixed format, plus the format of ``stored`` when it needs listing."""
    path = write_jsonl(tmp_path / "users.jsonl", [
        {"id": "u1", "email": ALICE, "password_hash": stored, "first_name": "Alice"}])
    table = {"type": "hashes", "source": "jsonl", "path": str(path), "mapping": MAPPING}
    if schemes is not None:
        table["schemes"] = schemes
    connector = build_connector(app, table)
    assert isinstance(connector, HashesConnector)
    return connector


def listed(scheme: str) -> list[str] | None:
    """The ``schemes`` a connector needs to accept ``scheme`` (None: the default does)."""
    return None if FORMATS[scheme].auto else [*AUTO_DETECTED, scheme]


def assert_accepts_only_the_password(app, tmp_path: Path, vector: Vector) -> None:
    """The right password signs alice in; the wrong one is a wrong password, nothing else."""
    connector = connector_for(app, tmp_path, vector.stored, listed(vector.scheme))
    assert connector.verifier.identify(Stored(vector.stored)) == vector.scheme
    assert connector.verify(ALICE, vector.password).subject == "u1"
    with pytest.raises(InvalidCredentials) as wrong:
        connector.verify(ALICE, vector.wrong)
    assert type(wrong.value) is InvalidCredentials


def refusal(app, tmp_path: Path, stored: str, password: str, schemes: list[str] | None = None) -> str:
    """The reason alice is refused as user data invalid (never a wrong password or an outage)."""
    connector = connector_for(app, tmp_path, stored, schemes)
    with pytest.raises(LegacyUnavailable) as refused:
        connector.verify(ALICE, password)
    assert not refused.value.outage, "one user's record, not an outage"
    assert stored not in refused.value.reason
    return refused.value.reason
