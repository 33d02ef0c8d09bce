"""The page language follows ``ui_locales``, then the user's saved locale, then
``Accept-Language``, then the app's ``default_locale``, then the deployment's default, among the
languages that have translations (catalogues compiled for the test stand in for the shipped ones)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import g

from settings.errors import ConfigError
from skin import branding
from tests.conftest import deployment
from tests.provider.apps import walker
from users import locale
from users.locale import parse

SIGN_IN = {"de": "Anmelden", "fr": "Se connecter", "es": "Iniciar sesión", "it": "Accedi"}


@pytest.fixture
def translations(tmp_path) -> Path:
    """German, French, Spanish and Italian catalogues, each translating "Sign in"."""
    root = tmp_path / "translations"
    for language, text in SIGN_IN.items():
        catalog = Catalog(locale=language)
        catalog.add("Sign in", text)
        folder = root / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        with open(folder / "messages.mo", "wb") as mo:
            write_mo(mo, catalog)
    return root


@pytest.fixture
def build(make_app, translations):
    """Ferry with those catalogues; ``build(test_app_locale="it")`` sets test-app's default."""

    def make(**defaults):
        tables = deployment()
        for client_id, value in defaults.items():
            tables["apps"][client_id.removesuffix("_locale").replace("_", "-")]["default_locale"] = value
        return make_app(BABEL_TRANSLATION_DIRECTORIES=str(translations), DEPLOYMENT=tables)

    return make


@pytest.fixture
def app(build):
    return build(test_app_locale="it")


def test_ui_locales_reach_the_sign_in_page(client):
    sign_in = walker(client)
    first = sign_in.start(ui_locales="ja-JP de-AT en")  # /authorize answers the page itself
    for page in (first.get_data(as_text=True), sign_in.open().get_data(as_text=True)):  # a reload
        assert '<html lang="de">' in page and "Anmelden" in page


def test_without_ui_locales_accept_language_decides(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de-CH, en;q=0.5"
    assert '<html lang="de">' in walker(client).start().get_data(as_text=True)
    german = client.get("/login", headers={"Accept-Language": "de-CH, en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="de">' in german
    english = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in english


def test_the_apps_default_comes_after_what_the_browser_asks_for(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja, ko;q=0.5"
    assert '<html lang="it">' in walker(client).start().get_data(as_text=True)
    page = client.get("/login", headers={"Accept-Language": "ja, ko;q=0.5"}).get_data(as_text=True)
    assert '<html lang="it">' in page and "Accedi" in page  # test-app's default_locale
    asked = client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="fr">' in asked


def test_an_app_without_a_default_gets_the_deployments(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ja"
    assert '<html lang="en">' in walker(client, "spa").start().get_data(as_text=True)
    page = client.get("/login", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert '<html lang="en">' in page


@pytest.mark.parametrize(("ui_locales", "saved", "accept", "client_id", "expected"), [
    ("de", "fr", "es", "test-app", "de"),  # ui_locales first
    (None, "fr", "es", "test-app", "fr"),  # then the user's saved locale
    (None, None, "es", "test-app", "es"),  # then Accept-Language
    (None, None, None, "test-app", "it"),  # then the app's default_locale
    (None, None, None, "spa", "en"),  # then the deployment's default
    (None, None, None, None, "en"),  # no app at all
    ("xx-YY", "ja", "zz, ko;q=0.5", "test-app", "it"),  # what Ferry lacks is passed over
    ("ja fr-CA", "de", None, "test-app", "fr"),  # a region falls back to its language
])
def test_the_order(app, ui_locales, saved, accept, client_id, expected):
    headers = {"Accept-Language": accept} if accept else {}
    with app.test_request_context("/login", headers=headers):
        g.ui_locales = ui_locales
        if saved:
            g.ferry_session = SimpleNamespace(user=SimpleNamespace(locale=saved))
        branding.serve(client_id)
        assert locale.select() == expected


def test_the_app_of_the_session_run_gives_the_default_before_a_page_renders(app):
    client = app.test_client()
    walker(client).authorize()  # the session now holds test-app's journey run
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = f"{name}={client.get_cookie(name).value}"
    with app.test_request_context("/login", headers={"Cookie": cookie}):
        assert locale.default() == "it"
    with app.test_request_context("/login"):  # another browser: no run, no app
        assert locale.default() == "en"


@pytest.mark.parametrize(("value", "complaint"), [
    ("pt_BR", r"apps\.test-app\.default_locale: no translations for 'pt_BR' "
              r"\(Ferry has: de, en, es, fr, it\)"),
    ("nl", r"apps\.test-app\.default_locale: no translations for 'nl'"),
    ("de DE", r"apps\.test-app\.default_locale: .*a locale is a language code"),
    ("<script>", r"apps\.test-app\.default_locale: .*a locale is a language code"),
])
def test_an_unknown_default_locale_is_refused_at_start(build, value, complaint):
    with pytest.raises(ConfigError, match=complaint):
        build(test_app_locale=value)


def test_a_default_locale_is_taken_as_babel_or_bcp_47_names_it(build):
    app = build(test_app_locale="IT")
    with app.test_request_context("/login"):
        branding.serve("test-app")
        assert locale.select() == "it"


def test_discovery_lists_the_languages_with_translations(client):
    assert client.get("/.well-known/openid-configuration").get_json()["ui_locales_supported"] == [
        "de", "en", "es", "fr", "it"]


def test_malformed_tags_are_ignored():
    assert parse("de <script> en-GB x" + "-a" * 40 + " ") == ["de", "en-GB"]
