"""Per-IP request limits are the views' own (``@limiter.limit``): the check flask-limiter would
run before every request is taken away (``security.drop_needless_limit_check``), every view's
limit still holds, and the check stays when a limit that needs it is set."""

from __future__ import annotations

from security import limiter
from tests.conftest import form_fields


def _checks_before_every_request(app) -> bool:
    return limiter._check_request_limit in app.before_request_funcs.get(None, [])


def test_no_check_before_every_request_and_each_view_keeps_its_limit(make_app):
    app = make_app(TOKEN_RATE_LIMIT="3 per minute", SIGNIN_RATE_LIMIT="2 per minute")
    assert not _checks_before_every_request(app)
    client = app.test_client()
    tokens = [client.post("/token", data={"grant_type": "authorization_code"}).status_code
              for _ in range(5)]
    assert tokens == [401, 401, 401, 429, 429]
    page = client.get("/login")
    fields = {**form_fields(page.get_data(as_text=True)), "identifier": "a@example.com",
              "password": "wrong password here"}
    posts = [client.post("/login", data=fields).status_code for _ in range(4)]
    assert posts[:2] != [429, 429] and posts[2:] == [429, 429]
    assert all(client.get("/.well-known/jwks.json").status_code == 200 for _ in range(10))


def test_the_check_stays_when_a_default_limit_needs_it(make_app):
    try:
        app = make_app(RATELIMIT_DEFAULT="2 per minute")  # a limit for every view
        assert limiter.limit_manager.default_limits and _checks_before_every_request(app)
        client = app.test_client()
        assert [client.get("/.well-known/jwks.json").status_code for _ in range(3)] == [200, 200, 429]
    finally:
        limiter.limit_manager.set_default_limits([])  # the limiter is one for the process
    assert not _checks_before_every_request(make_app())
