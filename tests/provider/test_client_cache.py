"""Each server keeps the apps it read for a second (``provider.clients.CACHE_SECONDS``): a sign-in's
three requests read the app once, a change another server made is seen within the second, the
server that made it sees it at once, and ids of no app are never kept."""

from __future__ import annotations

from models import OAuthClient, db
from provider import clients
from tests.accounts import create_local_user
from tests.conftest import SignIn


class _Clock:
    """``time`` as provider/clients.py sees it: a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 5000.0

    def monotonic(self) -> float:
        return self.now


def _name_in_a_request(app, client_id: str = "test-app") -> str | None:
    with app.test_request_context(), db.connection_context():
        found = clients.find(client_id)
        return found.name if found else None


def _rename_behind_its_back(app, name: str) -> None:
    """What another server's save does to the shared table (this one is not told)."""
    with app.app_context(), db.connection_context():
        OAuthClient.update(name=name).where(OAuthClient.client_id == "test-app").execute()


def test_a_change_elsewhere_is_seen_after_the_second_and_not_before(app, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(clients, "time", clock)
    before = _name_in_a_request(app)
    _rename_behind_its_back(app, "Renamed elsewhere")
    clock.now += clients.CACHE_SECONDS / 2
    assert _name_in_a_request(app) == before  # kept: not read again
    clock.now += clients.CACHE_SECONDS
    assert _name_in_a_request(app) == "Renamed elsewhere"


def test_this_server_s_own_change_is_seen_at_once(app, monkeypatch):
    monkeypatch.setattr(clients, "time", _Clock())  # the clock never moves
    _name_in_a_request(app)
    _rename_behind_its_back(app, "Renamed here")
    with app.app_context():
        clients.forget_cached()  # what sync_config_apps and the store's swap call
    assert _name_in_a_request(app) == "Renamed here"


def test_an_unknown_id_is_not_kept(app, monkeypatch):
    monkeypatch.setattr(clients, "time", _Clock())
    assert _name_in_a_request(app, "later-app") is None
    with app.app_context(), db.connection_context():
        OAuthClient.create(client_id="later-app", name="Later", journey="sign-in")
    assert _name_in_a_request(app, "later-app") == "Later"
    for number in range(50):
        assert _name_in_a_request(app, f"nobody-{number}") is None
    assert not any(key.startswith("nobody-") for key in app.extensions[clients._CACHE])


def test_apps_of_two_ferries_in_one_process_are_kept_apart(make_app, monkeypatch):
    monkeypatch.setattr(clients, "time", _Clock())
    one, two = make_app(), make_app()
    _name_in_a_request(one)
    _rename_behind_its_back(two, "Only in two")
    assert _name_in_a_request(two) == "Only in two"
    assert _name_in_a_request(one) != "Only in two"


def test_a_sign_in_reads_its_app_once(app, client, monkeypatch):
    monkeypatch.setattr(clients, "time", _Clock())
    create_local_user(app, "kept@example.com", "correct horse battery")
    reads = []
    real_get = clients.fast.get

    def counting_get(model, **equals):
        if model is OAuthClient:
            reads.append(equals)
        return real_get(model, **equals)

    monkeypatch.setattr(clients.fast, "get", counting_get)
    browser = SignIn(client)
    tokens = browser.tokens("kept@example.com", "correct horse battery")  # three requests
    assert browser.id_token_claims(tokens["id_token"])["aud"] == "test-app"
    assert reads == [{"client_id": "test-app"}]
