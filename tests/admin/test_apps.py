"""Portal: applications. Register (confidential and public), edit, conflicting saves, rotate the
secret (shown once; the old one stops working at /token), delete after confirmation, "Try it",
read-only file apps, viewers refused, CSRF, and bad input told next to its field with nothing
saved."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import Field

import store
from blueprints.admin import apps_form
from models import AuditEvent, ConfigRevision, db
from provider.app_settings import AppSettings
from tests.accounts import create_local_user
from tests.admin.conftest import csrf, signed_in
from tests.conftest import APP_REDIRECT, APP_SECRET, SignIn, is_sign_in_page

FORM = {"name": "Shop", "redirect_uris": APP_REDIRECT, "consent": "implicit", "signup": "on",
        "__shown": ["signup", "grant_types"], "grant_types": "authorization_code"}
USER = ("zoe@example.com", "zoe's long passphrase")


@pytest.fixture
def zoe(portal_app):
    """A local user who can sign in to any app."""
    create_local_user(portal_app, *USER)
    return USER


def register(client, client_id="shop", kind="confidential", **extra):
    data = {**FORM, "client_id": client_id, "client_type": kind,
            "csrf_token": csrf(client, "/admin/apps/new"), **extra}
    return client.post("/admin/apps/new", data=data)


def edit(client, client_id="shop", revision=None, **changes):
    revision = revision_of(client, client_id) if revision is None else revision
    return client.post(f"/admin/apps/{client_id}", data={
        **FORM, "revision": revision, "csrf_token": csrf(client, f"/admin/apps/{client_id}"),
        **changes})


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def secret_of(response) -> str:
    found = re.search(r'<code class="admin-code apps-secret"[^>]*>([^<]+)</code>', text(response))
    assert found, text(response)[:800]
    return found.group(1)


def revision_of(client, client_id: str) -> str:
    page = client.get(f"/admin/apps/{client_id}").get_data(as_text=True)
    return re.search(r'name="revision" value="(\d*)"', page).group(1)


def field_errors(response, field: str) -> str:
    found = re.search(rf'<ul class="admin-errors" id="f-{field}-errors">(.*?)</ul>', text(response), re.S)
    return found.group(1) if found else ""


def stored(app, client_id: str):
    with app.test_request_context(), db.connection_context():
        return store.view("apps", client_id)


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context(), db.connection_context():
        return list(AuditEvent.select().where(AuditEvent.event == name))


def token_works(app, client_id: str, secret: str | None, user=USER) -> bool:
    """A whole sign-in for the app, then the code exchanged at /token with ``secret``."""
    browser = SignIn(app.test_client(), client_id=client_id, client_secret=secret)
    response = browser.sign_in(*user)
    return browser.exchange(browser.code_from(response)).status_code == 200


# -- register ------------------------------------------------------------------------------
def test_a_confidential_app_gets_a_secret_shown_once_that_signs_in(portal_app, admin_client, zoe):
    shown = register(admin_client)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert "shown this once and never again" in text(shown)
    secret = secret_of(shown)
    assert len(secret) >= 43  # token_urlsafe(32)
    for path in ("/admin/apps/shop", "/admin/apps"):
        assert secret not in admin_client.get(path).get_data(as_text=True)
    assert token_works(portal_app, "shop", secret)
    assert not token_works(portal_app, "shop", "not-the-secret-at-all-0123")
    created = events(portal_app, "admin.app.created")
    assert created[0].details["admin"] == "admin@example.com" and created[0].client_id == "shop"
    assert created[0].details["after"]["client_secret"] == "(secret)"
    assert secret not in str(created[0].details)
    assert stored(portal_app, "shop").updated_by == "admin@example.com"


def test_a_public_app_has_no_secret_and_signs_in_with_pkce(portal_app, admin_client, zoe):
    done = register(admin_client, "spa-2", kind="public")
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/apps/spa-2")
    data = stored(portal_app, "spa-2").data
    assert "client_secret" not in data and data["token_endpoint_auth_method"] == "none"
    assert token_works(portal_app, "spa-2", None)
    page = text(admin_client.get("/admin/apps/spa-2"))
    assert "Rotate the client secret" not in page and "none (a public app" in page


def test_only_what_differs_from_the_defaults_is_stored(portal_app, admin_client):
    register(admin_client, consent="required", access_token_ttl="900")
    data = stored(portal_app, "shop").data
    assert data["consent"] == "required" and data["access_token_ttl"] == 900
    assert "signup" not in data and "grant_types" not in data and "scopes" not in data


def test_journey_choices_are_the_running_journeys(portal_app, admin_client):
    with portal_app.app_context():
        from journeys import engine

        names = sorted(engine().journeys)
    page = text(admin_client.get("/admin/apps/new"))
    options = re.search(r'<select[^>]*name="journey".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="([^"]+)"', options) == names


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(("field", "value", "told"), [
    ("redirect_uris", "http://evil.example/cb", "must be https"),
    ("redirect_uris", "", "at least 1 item"),
    ("code_ttl", "soon", "Enter a whole number"),
    ("code_ttl", "5", "greater than or equal to 10"),
    ("journey", "nowhere", "Pick one of the choices offered"),
    ("scope_claims", "{not json", "Not JSON"),
    ("grant_types", "", "must include authorization_code"),
    ("token_endpoint_auth_method", "none", "choose a method other than none"),
])
def test_bad_input_is_told_next_to_its_field_and_nothing_is_saved(portal_app, admin_client,
                                                                  field, value, told):
    page = register(admin_client, **{field: value})
    assert page.status_code == 422
    assert told in field_errors(page, field), text(page)[:2000]
    assert f'id="f-{field}"' in text(page) or field == "grant_types"
    assert stored(portal_app, "shop") is None
    assert 'value="Shop"' in text(page)  # what the admin typed is still there


def test_a_public_app_with_a_secret_method_is_told(portal_app, admin_client):
    page = register(admin_client, kind="public", token_endpoint_auth_method="client_secret_post")
    assert "A public app has no secret" in field_errors(page, "token_endpoint_auth_method")
    assert stored(portal_app, "shop") is None


@pytest.mark.parametrize("client_id", ["", "bad id!", "-starts-with-a-dash"])
def test_a_client_id_that_cannot_be_is_told_next_to_it(portal_app, admin_client, client_id):
    page = register(admin_client, client_id)
    assert page.status_code == 422
    assert "1 to 100 letters" in re.search(r'id="client_id-errors">(.*?)</ul>', text(page), re.S).group(1)


@pytest.mark.parametrize("taken", ["shop", "test-app"])  # one of the store's, one of the file's
def test_a_duplicate_client_id_is_told_and_nothing_changes(portal_app, admin_client, taken):
    register(admin_client)
    before = stored(portal_app, taken)
    again = register(admin_client, taken, name="Other")
    assert again.status_code == 422
    assert f"An app with the client ID {taken} exists already" in text(again)
    assert stored(portal_app, taken) == before


# -- edit, conflicts -------------------------------------------------------------------------
def test_an_edit_is_saved_audited_and_keeps_the_secret(portal_app, admin_client, zoe):
    secret = secret_of(register(admin_client))
    done = edit(admin_client, name="Shop 2", signup="",
                post_logout_redirect_uris="http://localhost:8000/\nhttp://localhost:8000/bye")
    assert done.status_code == 303
    after = stored(portal_app, "shop")
    assert after.revision == 2 and after.data["name"] == "Shop 2"
    assert after.data["post_logout_redirect_uris"] == ["http://localhost:8000/", "http://localhost:8000/bye"]
    updated = events(portal_app, "admin.app.updated")[0].details
    assert updated["before"]["name"] == "Shop" and updated["after"]["name"] == "Shop 2"
    assert token_works(portal_app, "shop", secret)  # the secret was kept


def test_an_emptied_field_falls_back_to_its_default(portal_app, admin_client):
    register(admin_client, theme="", access_token_ttl="900")
    edit(admin_client, access_token_ttl="")
    assert "access_token_ttl" not in stored(portal_app, "shop").data


def test_a_partial_post_keeps_what_it_does_not_speak_for(portal_app, admin_client):
    register(admin_client, consent="required")
    token = csrf(admin_client, "/admin/apps/shop")
    done = admin_client.post("/admin/apps/shop", data={"name": "Only the name", "revision": "1",
                                                      "csrf_token": token})
    assert done.status_code == 303
    data = stored(portal_app, "shop").data
    assert data["name"] == "Only the name" and data["consent"] == "required"


def test_json_settings_round_trip_through_the_form(portal_app, admin_client):
    claims = '{"employee": ["employee_id"]}'
    register(admin_client, scope_claims=claims, scopes="openid\nemployee")
    page = text(admin_client.get("/admin/apps/shop"))
    shown = re.search(r'<textarea[^>]*name="scope_claims"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert '"employee_id"' in shown
    assert edit(admin_client, scope_claims=shown, scopes="openid\nemployee").status_code == 303
    assert stored(portal_app, "shop").data["scope_claims"] == {"employee": ["employee_id"]}


def test_two_admins_saving_from_one_revision(portal_app, admin_client):
    register(admin_client)
    other = signed_in(portal_app, "admin", "grace@example.com")
    revision = revision_of(admin_client, "shop")
    assert edit(admin_client, revision=revision, name="First").status_code == 303
    second = edit(other, revision=revision, name="Second")
    page = text(second)
    assert second.status_code == 409 and "changed by admin@example.com" in page
    assert 'value="Second"' in page  # the second admin's input is kept on the page
    assert "Open the current version" in page and f'name="revision" value="{revision}"' in page
    assert stored(portal_app, "shop").data["name"] == "First"  # nothing lost


def test_an_edit_without_a_revision_is_refused(portal_app, admin_client):
    register(admin_client)
    page = edit(admin_client, revision="", name="Blind")
    assert "no revision" in text(page) and stored(portal_app, "shop").data["name"] == "Shop"


def test_a_new_setting_of_appsettings_appears_in_the_form(portal_app, admin_client, monkeypatch):
    class Extended(AppSettings):
        example_flag: bool = Field(False, description="A setting added after the portal was built.")

    monkeypatch.setattr(apps_form, "AppSettings", Extended)
    page = text(admin_client.get("/admin/apps/new"))
    more = page[page.index("More settings"):]
    assert 'name="example_flag"' in more and "A setting added after the portal was built." in more


# -- rotate --------------------------------------------------------------------------------
def test_rotating_the_secret_kills_the_old_one_and_shows_the_new_one_once(portal_app, admin_client, zoe):
    old = secret_of(register(admin_client))
    rotated = admin_client.post("/admin/apps/shop/rotate", data={
        "csrf_token": csrf(admin_client, "/admin/apps/shop"), "revision": revision_of(admin_client, "shop")})
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    assert "The old secret has stopped working" in text(rotated)
    new = secret_of(rotated)
    assert new != old
    assert not token_works(portal_app, "shop", old)
    assert token_works(portal_app, "shop", new)
    for path in ("/admin/apps/shop", "/admin/apps"):
        assert new not in admin_client.get(path).get_data(as_text=True)
    audited = events(portal_app, "admin.app.secret_rotated")
    assert len(audited) == 1 and audited[0].client_id == "shop"
    with portal_app.app_context(), db.connection_context():
        trail = str([e.details for e in AuditEvent.select()])
        log = [str((r.before, r.after)) for r in ConfigRevision.select()]
    assert new not in trail and old not in trail and not any(new in entry for entry in log)


def test_a_rotation_from_an_old_revision_is_refused_and_the_secret_stays(portal_app, admin_client, zoe):
    secret = secret_of(register(admin_client))
    stale = revision_of(admin_client, "shop")
    edit(admin_client, name="Renamed")
    refused = admin_client.post("/admin/apps/shop/rotate", data={
        "csrf_token": csrf(admin_client, "/admin/apps/shop"), "revision": stale},
        follow_redirects=True)
    assert "changed by admin@example.com" in text(refused)
    assert token_works(portal_app, "shop", secret)
    assert not events(portal_app, "admin.app.secret_rotated")


def test_a_public_app_has_no_secret_to_rotate(portal_app, admin_client):
    register(admin_client, "spa-2", kind="public")
    refused = admin_client.post("/admin/apps/spa-2/rotate", data={
        "csrf_token": csrf(admin_client, "/admin/apps/spa-2"), "revision": "1"}, follow_redirects=True)
    assert "no secret to rotate" in text(refused)
    assert "client_secret" not in stored(portal_app, "spa-2").data


# -- delete --------------------------------------------------------------------------------
def test_delete_after_confirmation(portal_app, admin_client):
    secret = secret_of(register(admin_client))
    confirm = text(admin_client.get("/admin/apps/shop/delete"))
    assert "Delete shop" in confirm and "Cancel" in confirm
    assert stored(portal_app, "shop") is not None  # the confirmation page changed nothing
    done = admin_client.post("/admin/apps/shop/delete", data={
        "csrf_token": csrf(admin_client, "/admin/apps/shop/delete"),
        "revision": revision_of(admin_client, "shop")})
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/apps")
    assert admin_client.get("/admin/apps/shop").status_code == 404
    gone = SignIn(portal_app.test_client(), "shop", client_secret=secret).authorize()
    assert gone.status_code == 400 and not is_sign_in_page(gone)  # an unknown app's page
    assert events(portal_app, "admin.app.deleted")[0].details["before"]["name"] == "Shop"


# -- file apps, viewers, CSRF ------------------------------------------------------------------
def test_file_apps_are_listed_read_only_and_refuse_changes(portal_app, admin_client, zoe):
    listing = text(admin_client.get("/admin/apps"))
    assert "test-app" in listing and "spa" in listing and "file, read-only" in listing
    page = text(admin_client.get("/admin/apps/test-app"))
    assert "defined in the configuration file" in page and "Rotate" not in page
    assert "Delete…" not in page and ">Save<" not in page
    assert 'name="name" value="Test app" disabled' in page
    token = csrf(admin_client, "/admin/apps/test-app")
    for path in ("/admin/apps/test-app", "/admin/apps/test-app/rotate", "/admin/apps/test-app/delete"):
        assert admin_client.post(path, data={**FORM, "revision": "0", "csrf_token": token}).status_code == 403
    assert stored(portal_app, "test-app").data["name"] == "Test app"
    assert token_works(portal_app, "test-app", APP_SECRET)


def test_a_viewer_sees_everything_and_changes_nothing(portal_app, admin_client, viewer_client, zoe):
    secret = secret_of(register(admin_client))
    listing = text(viewer_client.get("/admin/apps"))
    assert "shop" in listing and "Register an app" not in listing
    page = text(viewer_client.get("/admin/apps/shop"))
    assert 'value="Shop" disabled' in page and "Try it" in page
    assert "Rotate" not in page and "Delete…" not in page and ">Save<" not in page
    enabled = r'<(input|textarea|select)(?![^>]*type="hidden")(?![^>]*disabled)[^>]*name="'
    assert not re.search(enabled, page)  # every input the viewer sees is disabled
    token = csrf(viewer_client, "/admin/apps")
    posts = {"/admin/apps/new": {**FORM, "client_id": "viewers-app"},
             "/admin/apps/shop": {**FORM, "name": "Viewer's", "revision": "1"},
             "/admin/apps/shop/rotate": {"revision": "1"},
             "/admin/apps/shop/delete": {"revision": "1"}}
    for path, data in posts.items():
        refused = viewer_client.post(path, data={**data, "csrf_token": token})
        assert refused.status_code == 403 and "Nothing was changed" in text(refused), path
    assert stored(portal_app, "viewers-app") is None
    after = stored(portal_app, "shop")
    assert after.revision == 1 and after.data["name"] == "Shop"
    assert token_works(portal_app, "shop", secret)


@pytest.mark.parametrize("path", ["/admin/apps/new", "/admin/apps/shop", "/admin/apps/shop/rotate",
                                  "/admin/apps/shop/delete"])
def test_a_post_without_the_csrf_token_is_refused(portal_app, admin_client, path):
    register(admin_client)
    refused = admin_client.post(path, data={**FORM, "client_id": "other", "revision": "1"})
    assert refused.status_code == 400
    assert stored(portal_app, "shop").revision == 1 and stored(portal_app, "other") is None


# -- try it --------------------------------------------------------------------------------
def test_try_it_starts_a_sign_in_for_the_app(portal_app, admin_client):
    start = admin_client.get("/admin/apps/test-app/try")
    assert start.status_code == 303
    location = urlsplit(start.headers["Location"])
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert location.path == "/authorize"
    assert query["client_id"] == "test-app" and query["redirect_uri"] == APP_REDIRECT
    assert query["response_type"] == "code" and query["scope"] == "openid"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    again = parse_qs(urlsplit(admin_client.get("/admin/apps/test-app/try").headers["Location"]).query)
    assert again["state"][0] != query["state"] and len(query["state"]) >= 16
    follow = portal_app.test_client().get(start.headers["Location"])
    assert follow.status_code == 200 and is_sign_in_page(follow)


def test_nobody_signed_in_goes_to_the_sign_in_page(portal_app):
    for path in ("/admin/apps", "/admin/apps/test-app", "/admin/apps/test-app/try"):
        response = portal_app.test_client().get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_an_unknown_app_is_not_found(admin_client):
    for path in ("/admin/apps/nope", "/admin/apps/nope/delete", "/admin/apps/nope/try"):
        assert admin_client.get(path).status_code == 404
