"""Shared by the ``ferry roster import`` tests: a Ferry whose connector is configured but never
called, the CLI runner, and readers of what the import kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models import RosterEntry, db
from tests.conftest import deployment

#: A connector that is configured but never called: the import does not talk to the legacy IdP.
LEGACY = {"type": "ropc", "token_url": "http://127.0.0.1:9/token",
          "userinfo_url": "http://127.0.0.1:9/userinfo", "client_id": "ferry",
          "client_secret": "not-used"}


@pytest.fixture
def app(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("FERRY_INSTANCE_PATH", str(tmp_path / "instance"))
    both = {"sign-in": {"steps": {"legacy": {"connectors": ["legacy", "other"]}}}}
    return make_app(DEPLOYMENT=deployment({"legacy": LEGACY, "other": LEGACY}, journeys=both))


def run(app, *args):
    return app.test_cli_runner().invoke(args=["ferry", "roster", *args])


def import_(app, path: Path, *options: str, connector: str = "legacy"):
    return run(app, "import", str(path), "--connector", connector, *options)


def entries(app, connector: str = "legacy") -> list[dict]:
    with app.app_context(), db.connection_context():
        return list(RosterEntry.select().where(RosterEntry.connector == connector)
                    .order_by(RosterEntry.id).dicts())


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def summary(result) -> dict[str, int]:
    last = result.stdout.strip().splitlines()[-1]
    return {name: int(count) for name, count in
            (part.strip().rsplit(" ", 1) for part in last.split(","))}
