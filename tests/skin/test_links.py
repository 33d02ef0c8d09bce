""""Forgot your password?" and "Create an account" on the sign-in page: there when journeys
named ``forgot-password`` and ``sign-up`` exist, "Create an account" only for an app that
offers sign-up (``signup``, on unless set false); ``/journeys/<name>`` starts them likewise."""

from __future__ import annotations

from tests.skin.conftest import sign_in_page

#: Two one-step journeys standing in for the real ones (a page that says where it is).
LINKED = {name: {"start": "here",
                 "steps": {"here": {"type": "reject", "title": f"The {name} journey", "message": name}}}
          for name in ("forgot-password", "sign-up")}
FORGOT = '<a class="ferry-link" href="/journeys/forgot-password">'
CREATE = '<a class="ferry-link" href="/journeys/sign-up">'


def test_an_app_that_offers_no_sign_up_shows_no_create_an_account_link(themed_app):
    app = themed_app(apps={"spa": {"signup": False}}, journeys=LINKED)

    offers = sign_in_page(app.test_client(), "test-app").get_data(as_text=True)
    assert FORGOT in offers and CREATE in offers
    closed = sign_in_page(app.test_client(), "spa").get_data(as_text=True)
    assert FORGOT in closed and CREATE not in closed
    assert "Create an account" not in closed


def test_the_sign_up_journey_starts_only_for_an_app_that_offers_it(themed_app):
    app = themed_app(apps={"spa": {"signup": False}}, journeys=LINKED)

    shop = app.test_client()
    sign_in_page(shop, "test-app")
    started = shop.get("/journeys/sign-up")
    assert started.status_code == 303 and started.headers["Location"].endswith("/login")
    assert "The sign-up journey" in shop.get("/login").get_data(as_text=True)

    spa = app.test_client()
    sign_in_page(spa, "spa")
    assert spa.get("/journeys/sign-up").status_code == 404
    assert spa.get("/journeys/forgot-password").status_code == 303

