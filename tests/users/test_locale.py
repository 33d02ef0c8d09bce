"""The page language follows ``ui_locales``, then ``Accept-Language``, among the languages that
have translations (a German catalogue compiled for the test stands in for the pages issue's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from tests.provider.apps import walker
from users.locale import parse


@pytest.fixture
def app(make_app, tmp_path):
    catalog = Catalog(locale="de")
    catalog.add("Sign in", "Anmelden")
    folder = Path(tmp_path, "translations", "de", "LC_MESSAGES")
    folder.mkdir(parents=True)
    with open(folder / "messages.mo", "wb") as mo:
        write_mo(mo, catalog)
    return make_app(BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "translations"))


def test_ui_locales_reach_the_sign_in_page(client):
    sign_in = walker(client)
    sign_in.authorize(ui_locales="fr-CA de-AT en")
    page = sign_in.open().get_data(as_text=True)
    assert '<html lang="de">' in page and "Anmelden" in page


def test_without_ui_locales_accept_language_decides(client):
    walker(client).authorize()
    german = client.get("/login", headers={"Accept-Language": "de-CH, en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="de">' in german
    english = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in english


def test_discovery_lists_the_languages_with_translations(client):
    assert client.get("/.well-known/openid-configuration").get_json()["ui_locales_supported"] == ["de", "en"]


def test_malformed_tags_are_ignored():
    assert parse("de <script> en-GB x" + "-a" * 40 + " ") == ["de", "en-GB"]
