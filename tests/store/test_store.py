"""The live configuration store: checked, revisioned, sealed saves that every server picks up
without a restart, and configuration as code (export, import, dry run)."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

import store
from models import ConfigObject, ConfigRevision, db
from store import exchange, live
from tests.conftest import APP_REDIRECT, SignIn, deployment, is_sign_in_page
from tests.connectors.hashes.legacy import people, write_csv

SECRET = "a-portal-app-secret-0042"
NEW_APP = {"name": "Portal app", "client_secret": SECRET, "redirect_uris": [APP_REDIRECT]}


@pytest.fixture
def keys():
    return Fernet.generate_key().decode()


@pytest.fixture
def ferry(make_app, keys):
    return make_app(DEPLOYMENT=deployment(), STORE_KEYS=keys)


def save(app, kind, name, data, revision=None, actor="ada@example.com"):
    with app.test_request_context(), db.connection_context():
        return store.save(kind, name, data, actor=actor, expected_revision=revision)


def signs_in(app, client_id: str, secret: str = SECRET) -> bool:
    browser = SignIn(app.test_client(), client_id=client_id, client_secret=secret)
    answer = browser.authorize()
    return answer.status_code == 200 and is_sign_in_page(answer)


def test_an_app_saved_in_the_store_works_at_once_and_on_another_server(ferry, make_app, keys,
                                                                       monkeypatch):
    other = make_app(DEPLOYMENT=deployment(), STORE_KEYS=keys,
                     DATABASE_URL=ferry.config["DATABASE_URL"])  # a second server, same database
    assert not signs_in(other, "portal-app")
    monkeypatch.setattr(live, "CHECK_EVERY", 0.0)
    save(ferry, "apps", "portal-app", NEW_APP)
    assert signs_in(ferry, "portal-app")
    assert signs_in(other, "portal-app")  # its next request looked at the revision and reloaded


def test_the_secret_is_sealed_at_rest_and_never_shown(ferry):
    save(ferry, "apps", "portal-app", NEW_APP)
    with ferry.test_request_context(), db.connection_context():
        raw = json.dumps(ConfigObject.get(ConfigObject.name == "portal-app").data)
        assert SECRET not in raw and "$sealed" in raw
        assert store.view("apps", "portal-app").data["client_secret"] == "(secret)"
        log = ConfigRevision.get(ConfigRevision.name == "portal-app")
        assert log.actor == "ada@example.com" and log.after["client_secret"] == "(secret)"


def test_keep_keeps_the_secret_and_the_log_says_what_changed(ferry):
    save(ferry, "apps", "portal-app", NEW_APP)
    save(ferry, "apps", "portal-app", {**NEW_APP, "name": "Renamed", "client_secret": store.KEEP},
         revision=1)
    assert signs_in(ferry, "portal-app")
    with ferry.test_request_context(), db.connection_context():
        last = store.objects.history("apps", "portal-app")[0]
        assert last.before["name"] == "Portal app" and last.after["name"] == "Renamed"
        assert last.after["client_secret"] == "(kept)"


def test_the_second_of_two_saves_from_one_revision_is_told_and_nothing_is_lost(ferry):
    save(ferry, "apps", "portal-app", NEW_APP)
    save(ferry, "apps", "portal-app", {**NEW_APP, "name": "First"}, revision=1)
    with pytest.raises(store.Conflict, match="apps.portal-app: changed by ada@example.com"):
        save(ferry, "apps", "portal-app", {**NEW_APP, "name": "Second"}, revision=1)
    with ferry.test_request_context(), db.connection_context():
        assert store.view("apps", "portal-app").data["name"] == "First"


def test_creating_a_name_twice_is_a_conflict(ferry):
    save(ferry, "apps", "portal-app", NEW_APP)
    with pytest.raises(store.Conflict, match="exists already"):
        save(ferry, "apps", "portal-app", NEW_APP)


def test_an_object_of_the_file_is_read_only(ferry):
    with pytest.raises(store.ReadOnly, match="apps.test-app is defined in the configuration file"):
        save(ferry, "apps", "test-app", NEW_APP, revision=1)


@pytest.mark.parametrize(("kind", "data", "told"), [
    ("apps", {**NEW_APP, "journey": "nowhere"}, "apps.bad.journey: no journey named 'nowhere'"),
    ("apps", {**NEW_APP, "redirect_uris": []}, "apps.bad.redirect_uris"),
    ("apps", {**NEW_APP, "theme": "nowhere"}, "apps.bad.theme: no theme named 'nowhere'"),
    ("apps", {**NEW_APP, "default_locale": "nl"}, "apps.bad.default_locale"),
    ("connectors", {"type": "ldap", "url": 5}, "connectors.bad.url"),
    ("connectors", {"type": "no-such-type"}, "unknown connector type"),
    ("journeys", {"start": "a", "steps": {"a": {"type": "notice", "on": {"continue": "b"}}}},
     "journeys.bad"),
])
def test_an_invalid_object_is_refused_with_its_place_and_nothing_is_saved(ferry, kind, data, told):
    with ferry.test_request_context(), db.connection_context():
        before = store.objects.revision()
    with pytest.raises(store.Invalid) as refused:
        save(ferry, kind, "bad", data)
    assert any(told in problem for problem in refused.value.problems), refused.value.problems
    with ferry.test_request_context(), db.connection_context():
        assert store.objects.revision() == before and store.view(kind, "bad") is None


def test_a_delete_that_would_break_a_journey_is_refused(ferry, tmp_path):
    export = write_csv(tmp_path / "users.csv", people())
    save(ferry, "connectors", "extra", {"type": "hashes", "source": "csv", "path": str(export)})
    journey = {"start": "legacy", "steps": {
        "legacy": {"type": "legacy_password", "connector": "extra", "on": {
            "success": "done", "wrong_credentials": "done", "unavailable": "done",
            "throttled": "done", "mfa_required": "done", "user_data_invalid": "done"}},
        "done": {"type": "reject", "title": "t", "message": "m"}}}
    save(ferry, "journeys", "uses-extra", journey)
    with pytest.raises(store.Invalid, match="extra"):
        with ferry.test_request_context(), db.connection_context():
            store.delete("connectors", "extra", actor="ada@example.com", expected_revision=1)


def test_rotating_keys_keeps_every_secret(make_app, keys):
    app = make_app(DEPLOYMENT=deployment(), STORE_KEYS=keys)
    save(app, "apps", "portal-app", NEW_APP)
    newer = Fernet.generate_key().decode()
    rotated = make_app(DEPLOYMENT=deployment(), STORE_KEYS=f"{newer},{keys}",
                       DATABASE_URL=app.config["DATABASE_URL"])
    result = rotated.test_cli_runner().invoke(args=["ferry", "store", "rotate-keys"])
    assert result.exit_code == 0 and "1 secrets sealed" in result.output
    only_new = make_app(DEPLOYMENT=deployment(), STORE_KEYS=newer,
                        DATABASE_URL=app.config["DATABASE_URL"])
    assert signs_in(only_new, "portal-app")


def test_importing_the_export_changes_nothing(ferry, tmp_path):
    save(ferry, "apps", "portal-app", NEW_APP)
    save(ferry, "branding", "default", {"product_name": "Acme ID"})
    runner = ferry.test_cli_runner()
    exported = runner.invoke(args=["ferry", "export"])
    assert exported.exit_code == 0, exported.output
    assert SECRET not in exported.output and '"secret:keep"' in exported.output
    assert "[apps.portal-app]" in exported.output and "[apps.test-app]" in exported.output
    path = tmp_path / "ferry-export.toml"
    path.write_text(exported.output)
    with ferry.test_request_context(), db.connection_context():
        before = store.objects.revision()
    again = runner.invoke(args=["ferry", "import", str(path)])
    assert again.exit_code == 0 and "0 to change" in again.output
    with ferry.test_request_context(), db.connection_context():
        assert store.objects.revision() == before


def test_an_import_takes_effect_on_a_running_server(ferry, make_app, keys, tmp_path, monkeypatch):
    other = make_app(DEPLOYMENT=deployment(), STORE_KEYS=keys,
                     DATABASE_URL=ferry.config["DATABASE_URL"])
    monkeypatch.setattr(live, "CHECK_EVERY", 0.0)
    path = tmp_path / "apps.toml"
    path.write_text(f'[apps.imported]\nname = "Imported"\nclient_secret = "{SECRET}"\n'
                    f'redirect_uris = ["{APP_REDIRECT}"]\n')
    dry = ferry.test_cli_runner().invoke(args=["ferry", "import", "--dry-run", str(path)])
    assert dry.exit_code == 0 and "+name = \"Imported\"" in dry.output and "dry run" in dry.output
    assert SECRET not in dry.output
    assert not signs_in(other, "imported")
    done = ferry.test_cli_runner().invoke(args=["ferry", "import", str(path)])
    assert done.exit_code == 0 and "1 to change" in done.output, done.output
    assert signs_in(other, "imported")


def test_a_toml_error_is_told_with_its_line_and_nothing_changes(ferry, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("\n" * 39 + "[apps.x\n")
    result = ferry.test_cli_runner().invoke(args=["ferry", "import", str(path)])
    assert result.exit_code == 1 and "line 40" in result.output and "nothing was changed" in result.output


def test_an_import_that_changes_an_object_of_the_file_is_refused(ferry, tmp_path):
    path = tmp_path / "file-app.toml"
    path.write_text(f'[apps.test-app]\nname = "Hijacked"\nredirect_uris = ["{APP_REDIRECT}"]\n')
    result = ferry.test_cli_runner().invoke(args=["ferry", "import", str(path)])
    assert result.exit_code == 1 and "apps.test-app is defined in the configuration file" in result.output


def test_an_import_is_all_or_nothing(ferry, tmp_path):
    path = tmp_path / "half.toml"
    path.write_text(f'[apps.good]\nclient_secret = "{SECRET}"\nredirect_uris = ["{APP_REDIRECT}"]\n'
                    f'[apps.bad]\njourney = "nowhere"\nredirect_uris = ["{APP_REDIRECT}"]\n')
    result = ferry.test_cli_runner().invoke(args=["ferry", "import", str(path)])
    assert result.exit_code == 1 and "apps.bad.journey" in result.output
    with ferry.test_request_context(), db.connection_context():
        assert store.view("apps", "good") is None


def test_exchange_plan_names_unknown_tables(ferry):
    with ferry.test_request_context(), db.connection_context():
        with pytest.raises(store.Invalid, match="appz: unknown table"):
            exchange.plan("[appz.x]\n")


def test_a_theme_this_server_lacks_does_not_hold_back_the_change(ferry, make_app, keys,
                                                                 tmp_path, monkeypatch, caplog):
    themes = tmp_path / "themes-of-the-saving-server"
    (themes / "acme" / "static").mkdir(parents=True)
    saver = make_app(DEPLOYMENT=deployment(), STORE_KEYS=keys, THEME_FOLDERS=[str(themes)],
                     DATABASE_URL=ferry.config["DATABASE_URL"])
    monkeypatch.setattr(live, "CHECK_EVERY", 0.0)
    save(saver, "apps", "portal-app", {**NEW_APP, "theme": "acme"})
    export = write_csv(tmp_path / "users.csv", people())
    save(saver, "connectors", "extra", {"type": "hashes", "source": "csv", "path": str(export)})
    assert signs_in(saver, "portal-app")
    browser = SignIn(ferry.test_client(), client_id="portal-app", client_secret=SECRET)
    assert browser.start().status_code == 200  # no "acme" here: the shipped pages
    assert "no theme named 'acme'" in caplog.text
    assert "extra" in ferry.extensions["ferry.connectors"]  # the change after it arrived too
