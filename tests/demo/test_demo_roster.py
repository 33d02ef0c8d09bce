"""``make run`` loads the demo users into Ferry's roster with the real command, once however
often it starts, so the migration dashboard counts them from the first minute."""

from __future__ import annotations

import sqlite3

from demo import run
from demo.legacy_idp import DEMO_USERS


def test_the_demo_users_are_in_the_roster_once(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "INSTANCE", tmp_path)
    config = run.write_config(run.Ports.from_env({}), fresh=False)
    for _start in range(2):
        run.load_roster(config, "http://localhost:5000")
    with sqlite3.connect(tmp_path / "ferry.db") as database:
        rows = database.execute('SELECT "connector", "email", "user_id" FROM "roster_entry" '
                                'ORDER BY "email"').fetchall()
    assert rows == [("demo-legacy", email, None) for email, *_ in sorted(DEMO_USERS)]
