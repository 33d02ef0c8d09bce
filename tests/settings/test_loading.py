"""Configuration layers and their validation: clear messages, every problem at once."""

from __future__ import annotations

import pytest

from app import create_app
from settings.errors import ConfigError

CONFIG = """
[ferry]
issuer = "https://login.example.com/"
journey_ttl = 600

[connectors.corp]
type = "ropc"
token_url = "https://legacy.example.com/token"
client_id = "ferry"
client_secret = "env:CORP_SECRET"

[apps.shop]
client_secret = "shop-secret-0123456789"
redirect_uris = ["https://shop.example.com/callback"]
"""


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("FERRY_INSTANCE_PATH", str(tmp_path))
    for name in ("FERRY_CONFIG", "FERRY_ISSUER", "FERRY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_file_then_environment_then_test_config(instance, monkeypatch):
    (instance / "ferry.toml").write_text(CONFIG)
    monkeypatch.setenv("CORP_SECRET", "from-the-environment")
    monkeypatch.setenv("FERRY_JOURNEY_TTL", "700")
    app = create_app({"PASSWORD_MEMORY_COST": 8192})
    assert app.config["ISSUER"] == "https://login.example.com"
    assert app.config["JOURNEY_TTL"] == 700
    assert app.config["PASSWORD_MEMORY_COST"] == 8192
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.extensions["ferry.connectors"]["corp"].settings.client_secret == "from-the-environment"
    assert (instance / "ferry.db").exists() and (instance / "secret_key").stat().st_mode & 0o077 == 0


def test_every_problem_of_the_server_settings_is_reported_at_once(instance, monkeypatch):
    monkeypatch.setenv("CORP_SECRET", "x")
    (instance / "ferry.toml").write_text(
        CONFIG.replace('journey_ttl = 600', 'journey_ttl = "soon"\ncolour = "red"')
        + '\n[connectors.other]\ntype = "carrier-pigeon"\n')
    with pytest.raises(ConfigError) as caught:
        create_app()
    message = str(caught.value)
    assert "ferry.journey_ttl" in message and "ferry.colour: unknown setting" in message


def test_missing_secret_reference_is_named(instance):
    (instance / "ferry.toml").write_text(CONFIG)
    with pytest.raises(ConfigError, match="connectors.corp.client_secret: environment variable CORP_SECRET"):
        create_app()


def test_connector_problems_are_named(instance, monkeypatch):
    monkeypatch.setenv("CORP_SECRET", "x")
    (instance / "ferry.toml").write_text(
        CONFIG + '\n[connectors.other]\ntype = "carrier-pigeon"\n'
        + '\n[connectors.third]\ntype = "ropc"\ntoken_url = "ftp://x"\nclient_id = "a"\n')
    with pytest.raises(ConfigError) as caught:
        create_app()
    problems = caught.value.problems
    assert any("connectors.other.type: unknown connector type 'carrier-pigeon'" in p for p in problems)
    assert any(p.startswith("connectors.third.token_url") for p in problems)


def test_app_redirect_uris_must_be_https_except_on_localhost(instance, monkeypatch):
    monkeypatch.setenv("CORP_SECRET", "x")
    (instance / "ferry.toml").write_text(
        CONFIG.replace("https://shop.example.com/callback", "http://shop.example.com/callback"))
    with pytest.raises(ConfigError, match="must be https"):
        create_app()


def test_not_toml_is_reported(instance):
    (instance / "ferry.toml").write_text("[ferry\nissuer=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        create_app()


def test_explicit_config_path_must_exist(instance, monkeypatch):
    monkeypatch.setenv("FERRY_CONFIG", str(instance / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        create_app()
