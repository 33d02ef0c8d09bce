"""``/metrics`` through the Flask test client: who may read it, and that its figures are true.

The roster figures are compared with the database itself after seeding ``roster_entry`` rows;
the counters are read before and after real audit events (from :func:`security.audit.record`
and from whole sign-ins against a legacy hash export), because prometheus_client's counters
live as long as the process and other tests add to them too.
"""

from __future__ import annotations

import csv
from pathlib import Path

import bcrypt
import peewee
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors import instances
from lifecycle import metrics
from models import AuditEvent, RosterEntry, db
from security.audit import record
from settings.errors import ConfigError
from tests.accounts import create_local_user
from tests.conftest import SignIn, deployment

TOKEN = "metrics-token-0123456789abcdef"
PASSWORD = "correct horse battery staple"
REMOTE = {"REMOTE_ADDR": "203.0.113.7"}
ALICE = "alice@example.com"


@pytest.fixture
def export(tmp_path) -> Path:
    """A legacy hash export of one user, alice (bcrypt)."""
    path = tmp_path / "users.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["id", "email", "password_hash", "first_name"])
        writer.writeheader()
        writer.writerow({"id": "legacy-1", "email": ALICE, "first_name": "Alice",
                         "password_hash": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()})
    return path


@pytest.fixture
def legacy(make_app, export):
    """Ferry with one legacy connector, ``legacy`` (the export), and a metrics token."""
    table = {"type": "hashes", "source": "csv", "path": str(export),
             "mapping": {"email": "email", "given_name": "first_name"}, "breaker_failures": 2}
    return make_app(DEPLOYMENT=deployment({"legacy": table}), METRICS_TOKEN=TOKEN,
                    FAILED_SIGNINS_PER_IDENTIFIER="1000 per minute")


def scrape(client, **request) -> dict[tuple[str, frozenset], float]:
    """Every sample of a successful scrape, by name and labels."""
    response = client.get("/metrics", **request)
    assert response.status_code == 200, response.get_data(as_text=True)
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    """One sample's value, 0 when absent (a counter never incremented has no series yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


# -- who may read it ---------------------------------------------------------------------------
def test_loopback_reads_without_a_token_and_gets_the_text_format(app):
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    assert response.headers["Cache-Control"] == "no-store"
    assert "set-cookie" not in {name.lower() for name in response.headers.keys()}
    text = response.get_data(as_text=True)
    for family in ("ferry_roster_users", "ferry_connector_breaker_state", "process_cpu_seconds_total",
                   "python_info", "# TYPE ferry_legacy_call_seconds histogram"):
        assert family in text


def test_ipv6_loopback_is_loopback(app):
    assert app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_remote_without_a_configured_token_is_forbidden(app):
    client = app.test_client()
    assert client.get("/metrics", environ_base=REMOTE).status_code == 403
    # A token is no use while none is configured.
    assert client.get("/metrics", environ_base=REMOTE,
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403


def test_remote_needs_the_right_bearer_token(legacy):
    client = legacy.test_client()
    missing = client.get("/metrics", environ_base=REMOTE)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    for wrong in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer "):
        assert client.get("/metrics", environ_base=REMOTE,
                          headers={"Authorization": wrong}).status_code == 401, wrong
    assert scrape(client, environ_base=REMOTE, headers={"Authorization": f"Bearer {TOKEN}"})


def test_a_request_a_local_proxy_passed_on_is_not_loopback(app):
    client = app.test_client()  # trusted_proxies = 0: the real client is unknown
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        value = "for=203.0.113.7" if header == "Forwarded" else "203.0.113.7"
        assert client.get("/metrics", headers={header: value}).status_code == 403, header


def test_behind_trusted_proxies_the_forwarded_client_decides(make_app):
    client = make_app(TRUSTED_PROXIES=1).test_client()
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 403
    # A client cannot claim loopback: the proxy appends the address it really saw.
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.7"}
                      ).status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    assert client.get("/metrics").status_code == 200  # straight to Ferry on the machine
    assert client.get("/metrics", headers={"X-Real-IP": "127.0.0.1"}).status_code == 403

    two = make_app(TRUSTED_PROXIES=2).test_client()  # one hop named: ProxyFix did not apply
    assert two.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    assert two.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, 127.0.0.1"}).status_code == 200


def test_a_short_metrics_token_fails_at_start_up(make_app):
    with pytest.raises(ConfigError, match="metrics_token"):
        make_app(METRICS_TOKEN="short")


def test_a_multiprocess_folder_that_does_not_exist_fails_at_start_up(app, monkeypatch, tmp_path):
    monkeypatch.setattr(metrics, "MULTIPROCESS_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        metrics.install(app)


# -- the figures -------------------------------------------------------------------------------
def test_roster_figures_equal_the_database(legacy):
    with legacy.app_context(), db.connection_context():
        for number in range(5):
            RosterEntry.create(connector="legacy", email=f"u{number}@example.com", source="import:t",
                               user_id=f"user{number}" if number < 3 else None)
        RosterEntry.create(connector="retired", email="gone@example.com", source="import:t")
        in_db = {(row.connector, "migrated" if row.migrated else "remaining"): row.users
                 for row in RosterEntry.select(RosterEntry.connector,
                                               RosterEntry.user_id.is_null(False).alias("migrated"),
                                               peewee.fn.COUNT(RosterEntry.id).alias("users"))
                 .group_by(RosterEntry.connector, RosterEntry.user_id.is_null(False)).objects()}
    assert in_db == {("legacy", "migrated"): 3, ("legacy", "remaining"): 2, ("retired", "remaining"): 1}

    samples = scrape(legacy.test_client())
    roster = {(dict(labels)["connector"], dict(labels)["state"]): found
              for (name, labels), found in samples.items() if name == "ferry_roster_users"}
    assert roster == {**in_db, ("retired", "migrated"): 0}


def test_an_empty_roster_of_a_configured_connector_reads_zero(legacy):
    samples = scrape(legacy.test_client())
    assert value(samples, "ferry_roster_users", connector="legacy", state="migrated") == 0
    assert ("ferry_roster_users", frozenset({("connector", "legacy"), ("state", "remaining")})) in samples


def test_audit_events_become_counters_with_bounded_labels(legacy):
    client = legacy.test_client()
    before = scrape(client)
    with legacy.test_request_context(), db.connection_context():
        record("signin.password", user_id="u1")
        record("signin.passkey", user_id="u1")
        record("signin.passkey", user_id="u2")
        record("user.migrated", user_id="u3", connector="legacy")
        record("user.linked", user_id="u4", connector="legacy")
        record("user.relinked", user_id="u4", connector="legacy")  # not a new migration
        record("signin.failed", user_id="u1", reason="wrong_password")
        record("signin.failed", reason="Passkey said: <anything at all>")
        record("legacy.unavailable", connector="legacy", reason="timed out after 5 s at 10.0.0.9")
        record("legacy.blocked", connector="legacy", reason="locked")
        record("legacy.not_found", connector="legacy")  # the next connector may know the user
        record("oauth.token_revoked", user_id="u1")
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ferry_signins_total", method="password") == 1
    assert delta("ferry_signins_total", method="passkey") == 2
    assert delta("ferry_migrations_total", connector="legacy") == 2
    assert delta("ferry_signin_failures_total", connector="local", reason="wrong_password") == 1
    assert delta("ferry_signin_failures_total", connector="local", reason="other") == 1
    assert delta("ferry_signin_failures_total", connector="legacy", reason="legacy_unavailable") == 1
    assert delta("ferry_signin_failures_total", connector="legacy", reason="blocked_locked") == 1
    changed = {key for key in after if key[0].startswith("ferry_sign") or key[0].startswith("ferry_mig")
               if key[0].endswith("_total") and after[key] != before.get(key, 0.0)}
    assert len(changed) == 7  # nothing else moved: no series for a free-text reason


def test_real_sign_ins_count_the_migration_the_failure_and_the_legacy_calls(legacy):
    client = legacy.test_client()
    before = scrape(client)
    wrong = SignIn(legacy.test_client()).sign_in(ALICE, "not her password")
    assert wrong.status_code == 200
    SignIn(legacy.test_client()).tokens(ALICE, PASSWORD)  # migrates her
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    with legacy.app_context(), db.connection_context():
        audited = [event.event for event in AuditEvent.select().order_by(AuditEvent.id)]
    assert audited.count("legacy.refused") == 1 and audited.count("user.migrated") == 1
    assert delta("ferry_signin_failures_total", connector="legacy", reason="wrong_password") == 1
    assert delta("ferry_migrations_total", connector="legacy") == 1
    assert delta("ferry_signins_total", method="legacy_password") == 1
    calls = [key for key in after if key[0] == "ferry_legacy_call_seconds_count"
             and dict(key[1])["connector"] == "legacy"]
    assert sum(after[key] - before.get(key, 0.0) for key in calls) >= 2  # one check each
    verify = value(after, "ferry_legacy_call_seconds_count", connector="legacy", operation="verify",
                   outcome="answer") - value(before, "ferry_legacy_call_seconds_count",
                                             connector="legacy", operation="verify", outcome="answer")
    assert verify == 2


def test_breaker_state_is_read_from_the_running_connector(legacy):
    client = legacy.test_client()
    closed = scrape(client)
    assert value(closed, "ferry_connector_breaker_state", connector="legacy", state="closed") == 1
    assert value(closed, "ferry_connector_breaker_state", connector="legacy", state="open") == 0
    with legacy.app_context():
        breaker = instances()["legacy"].guard.breaker
        for _ in range(2):  # breaker_failures = 2 outages in a row open it
            breaker.record(breaker.admit(), failed=True)
    opened = scrape(client)
    assert value(opened, "ferry_connector_breaker_state", connector="legacy", state="open") == 1
    assert value(opened, "ferry_connector_breaker_state", connector="legacy", state="closed") == 0


def test_a_failing_metric_never_fails_the_audit_record(legacy, monkeypatch):
    def broken(*_labels):
        raise RuntimeError("metric storage gone")

    monkeypatch.setattr(metrics.SIGNINS, "labels", broken)
    user_id = create_local_user(legacy, "bob@example.com", PASSWORD)
    with legacy.test_request_context(), db.connection_context():
        record("signin.password", user_id=user_id)  # logged, not raised
        assert AuditEvent.select().where(AuditEvent.event == "signin.password").count() == 1


def test_openmetrics_when_prometheus_asks_for_it(app):
    response = app.test_client().get("/metrics", headers={
        "Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"})
    assert response.status_code == 200
    assert response.content_type.startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).rstrip().endswith("# EOF")
