"""The portal's session cookie is its own: an admin is nobody on the sign-in pages, a signed-in
end user is nobody in the portal, and each side has its own CSRF token."""

from __future__ import annotations

from tests.accounts import sign_in_locally
from tests.admin.conftest import signed_in


def cookie_names(client) -> set[tuple[str, str]]:
    return {(cookie.key, cookie.path) for cookie in client._cookies.values()}


def test_the_portal_has_a_cookie_of_its_own_under_admin(portal_app):
    client = signed_in(portal_app)
    assert cookie_names(client) == {("ferry_session_admin", "/admin")}
    assert "You are not signed in" in client.get("/").get_data(as_text=True)


def test_an_end_user_session_is_nobody_in_the_portal(portal_app):
    client = portal_app.test_client()
    sign_in_locally(portal_app, client, "eve@example.com", "end user passphrase 1")
    response = client.get("/admin/users")
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert "/admin/login" in response.headers["Location"]
