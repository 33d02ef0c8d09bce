"""Portal: the integration hub. The catalogue with readable setup guides; connectors made from
their generated forms and tested against real legacy stores (a bcrypt CSV export, the hand-written
REST API of ``tests/peers/rest_legacy.py``); wrong types told at the field and nothing saved;
secrets kept; two admins saving one revision; viewers refused; read-only file connectors; a
connector turned off while a journey names it; a delete that a journey still needs."""

from __future__ import annotations

import re

import bcrypt
import pytest

from models import db
from store import objects
from tests.admin.conftest import csrf, signed_in
from tests.connectors.hashes.legacy import people, write_csv
from tests.journeys.selfservice import text
from tests.peers.rest_legacy import RestLegacyServer

PASSWORD = "alice's legacy passphrase"


@pytest.fixture
def export(tmp_path):
    return write_csv(tmp_path / "users.csv", people(
        alice=bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()))


def create(client, type_name, **fields):
    data = {"csrf_token": csrf(client, "/admin/connectors"), **fields}
    return client.post(f"/admin/connectors/new/{type_name}", data=data)


def hashes_fields(export, name="legacy-csv"):
    return {"name": name, "source": "csv", "path": str(export),
            "mapping": '{"email": "email", "given_name": "first_name"}'}


def stored(app, name):
    with app.test_request_context(), db.connection_context():
        row = objects.get("connectors", name)
        return (objects.plain(row.data), row.revision) if row else (None, None)


def revision_of(page: str) -> str:
    return re.search(r'name="revision" value="(\d+)"', page).group(1)


def test_the_catalogue_lists_every_type_with_a_readable_guide(portal_app, admin_client):
    page = admin_client.get("/admin/connectors").get_data(as_text=True)
    for type_name in ("ldap", "cognito", "hashes", "oidc", "saml", "ropc", "okta", "auth0",
                      "entra", "keycloak", "rest"):
        assert f'<code class="admin-code">{type_name}</code>' in page
        assert f'href="/admin/connectors/types/{type_name}"' in page
    guide = admin_client.get("/admin/connectors/types/ldap").get_data(as_text=True)
    # The docstring's structure, as HTML: the setup steps numbered, settings as a list, code.
    assert '<h3 class="admin-guide-lead admin-guide-setup">Setup in the directory:</h3>' in guide
    assert "<ol><li>Create a service account for Ferry" in guide
    assert '<code class="admin-code">bind_dn</code>' in guide and "``" not in guide
    # ...and escaped: the docstring's angle brackets are text, not markup.
    assert "[connectors.&lt;name&gt;]" in guide
    assert admin_client.get("/admin/connectors/types/nope").status_code == 404


def test_add_a_connector_and_test_it(portal_app, admin_client, export):
    made = create(admin_client, "hashes", **hashes_fields(export))
    assert made.status_code == 303, text(made)[:3000]
    token = csrf(admin_client, "/admin/connectors/legacy-csv")
    ok = admin_client.post("/admin/connectors/legacy-csv/test", data={
        "identifier": "Alice@Example.com", "password": PASSWORD, "csrf_token": token})
    page = ok.get_data(as_text=True)
    assert "The legacy IdP said yes: Alice@Example.com is subject" in text(ok)
    assert '&#34;given_name&#34;: &#34;Alice&#34;' in page  # the mapped profile, as JSON
    assert PASSWORD not in page
    no = text(admin_client.post("/admin/connectors/legacy-csv/test", data={
        "identifier": "alice@example.com", "password": "wrong", "csrf_token": token}))
    assert "The legacy IdP said no: wrong credentials" in no
    unknown = text(admin_client.post("/admin/connectors/legacy-csv/test", data={
        "identifier": "nobody@example.com", "password": "x", "csrf_token": token}))
    assert "The legacy IdP said no: unknown user" in unknown
    listing = text(admin_client.get("/admin/connectors"))
    assert "legacy-csv" in listing and "portal" in listing


def test_a_post_without_the_portals_csrf_token_is_refused(portal_app, admin_client, export):
    refused = admin_client.post("/admin/connectors/new/hashes", data=hashes_fields(export))
    assert refused.status_code == 400 and stored(portal_app, "legacy-csv") == (None, None)


def test_testing_never_logs_the_password(portal_app, admin_client, export, caplog):
    create(admin_client, "hashes", **hashes_fields(export))
    admin_client.post("/admin/connectors/legacy-csv/test", data={
        "identifier": "alice@example.com", "password": PASSWORD,
        "csrf_token": csrf(admin_client, "/admin/connectors")})
    assert "admin.connector_tested" in caplog.text and PASSWORD not in caplog.text


def test_a_rest_connector_against_a_real_legacy_api(portal_app, admin_client):
    with RestLegacyServer(bearer_token="rest-legacy-token-0") as legacy:
        made = create(admin_client, "rest", name="corp-api", base_url=legacy.ferry_url,
                      bearer_token="rest-legacy-token-0")
        assert made.status_code == 303, text(made)[:3000]
        token = csrf(admin_client, "/admin/connectors/corp-api")
        alice = legacy.accounts["alice"]
        ok = text(admin_client.post("/admin/connectors/corp-api/test", data={
            "identifier": alice.email, "password": alice.password, "csrf_token": token}))
        assert "said yes" in ok and '"family_name": "Liddell"' in ok
        carol = legacy.accounts["carol"]
        blocked = text(admin_client.post("/admin/connectors/corp-api/test", data={
            "identifier": carol.email, "password": carol.password, "csrf_token": token}))
        assert "account blocked: locked" in blocked
        legacy.stop()
        down = text(admin_client.post("/admin/connectors/corp-api/test", data={
            "identifier": alice.email, "password": alice.password, "csrf_token": token}))
        assert "The legacy IdP could not answer" in down
        legacy.start()
    assert "rest-legacy-token-0" not in admin_client.get("/admin/connectors/corp-api").get_data(
        as_text=True)


def test_a_setting_of_the_wrong_type_is_told_at_its_field(portal_app, admin_client, export):
    page = create(admin_client, "hashes", **hashes_fields(export), breaker_failures="many")
    body = page.get_data(as_text=True)
    assert page.status_code == 400
    errors = re.search(r'<ul class="admin-errors" id="f-breaker_failures-errors">(.*?)</ul>',
                       body, re.S)
    assert errors and "whole number" in errors.group(1)
    assert 'value="many"' in body  # what was typed stays, to be corrected
    bad_json = create(admin_client, "hashes", **{**hashes_fields(export), "mapping": "{oops"})
    assert 'id="f-mapping-errors"' in bad_json.get_data(as_text=True)
    assert "Not JSON" in text(bad_json)
    too_big = create(admin_client, "hashes", **hashes_fields(export), deadline="99")
    assert too_big.status_code == 400 and 'id="f-deadline-errors"' in too_big.get_data(as_text=True)
    assert "less than or equal to 25" in text(too_big)
    choice = create(admin_client, "hashes", **{**hashes_fields(export), "source": "xml"})
    assert 'id="f-source-errors"' in choice.get_data(as_text=True)
    assert admin_client.get("/admin/connectors/legacy-csv").status_code == 404
    assert stored(portal_app, "legacy-csv") == (None, None)


def test_a_secret_left_empty_keeps_the_stored_one(portal_app, admin_client):
    made = create(admin_client, "ropc", name="corp", token_url="http://127.0.0.1:9/token",
                  client_id="ferry", client_secret="a-long-legacy-secret-1")
    assert made.status_code == 303, text(made)[:2000]
    page = admin_client.get("/admin/connectors/corp").get_data(as_text=True)
    assert "a-long-legacy-secret-1" not in page and "A secret is stored: leave empty to keep it" in page
    again = admin_client.post("/admin/connectors/corp", data={
        "csrf_token": csrf(admin_client, "/admin/connectors"), "revision": revision_of(page),
        "token_url": "http://127.0.0.1:9/token", "client_id": "ferry", "client_secret": "",
        "display_name": "Corp"})
    assert again.status_code == 303
    data, revision = stored(portal_app, "corp")
    assert data["client_secret"] == "a-long-legacy-secret-1" and data["display_name"] == "Corp"
    assert revision == 2


def test_two_admins_saving_one_revision(portal_app, admin_client, export):
    create(admin_client, "hashes", **hashes_fields(export))
    other = signed_in(portal_app, "admin", "grace@example.com")
    opened = revision_of(admin_client.get("/admin/connectors/legacy-csv").get_data(as_text=True))
    first = other.post("/admin/connectors/legacy-csv", data={
        **hashes_fields(export), "display_name": "Grace's", "revision": opened,
        "csrf_token": csrf(other, "/admin/connectors")})
    assert first.status_code == 303
    second = admin_client.post("/admin/connectors/legacy-csv", data={
        **hashes_fields(export), "display_name": "Ada's", "revision": opened,
        "csrf_token": csrf(admin_client, "/admin/connectors")})
    page = second.get_data(as_text=True)
    assert second.status_code == 409 and "changed by grace@example.com" in text(second)
    assert 'value="Ada&#39;s"' in page  # the second admin's input is still there...
    assert revision_of(page) == opened  # ...and saving it again is refused again
    assert stored(portal_app, "legacy-csv")[0]["display_name"] == "Grace's"


def test_a_viewer_sees_but_cannot_change_or_test(portal_app, admin_client, viewer_client, export):
    assert create(viewer_client, "hashes", **hashes_fields(export)).status_code == 403
    assert "Add a hashes connector" not in text(viewer_client.get("/admin/connectors"))
    create(admin_client, "hashes", **hashes_fields(export))
    page = viewer_client.get("/admin/connectors/legacy-csv").get_data(as_text=True)
    assert "Save" not in text(viewer_client.get("/admin/connectors/legacy-csv"))
    assert "it needs the admin role" in text(viewer_client.get("/admin/connectors/legacy-csv"))
    token = csrf(viewer_client, "/admin/connectors")
    for path, data in (("/admin/connectors/legacy-csv", {**hashes_fields(export), "revision": "1",
                                                          "display_name": "Viewer's"}),
                       ("/admin/connectors/legacy-csv/enabled", {"enabled": "0", "revision": "1"}),
                       ("/admin/connectors/legacy-csv/delete", {"revision": "1"}),
                       ("/admin/connectors/legacy-csv/test", {"identifier": "alice@example.com",
                                                              "password": PASSWORD})):
        refused = viewer_client.post(path, data={**data, "csrf_token": token})
        assert refused.status_code == 403 and "Nothing was changed" in text(refused), path
    data, revision = stored(portal_app, "legacy-csv")
    assert revision == 1 and "display_name" not in data and data.get("enabled", True)
    assert "readonly" in page


def test_file_connectors_are_read_only_but_testable(make_app, export):
    from tests.conftest import deployment
    from tests.connectors.hashes.legacy import hashes_table

    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(export)}))
    admin = signed_in(app)
    page = text(admin.get("/admin/connectors/legacy"))
    assert "defined in the configuration file" in page and "Test connection" in page
    assert "Turn legacy off" not in page
    token = csrf(admin, "/admin/connectors")
    for path in ("/admin/connectors/legacy", "/admin/connectors/legacy/enabled",
                 "/admin/connectors/legacy/delete"):
        assert admin.post(path, data={"csrf_token": token}).status_code == 403, path
    tested = text(admin.post("/admin/connectors/legacy/test", data={
        "identifier": "alice@example.com", "password": "wrong", "csrf_token": token}))
    assert "The legacy IdP said no" in tested
    assert "file" in text(admin.get("/admin/connectors"))


JOURNEY = ('start = "legacy"\n[steps.legacy]\ntype = "legacy_password"\nconnector = "legacy-csv"\n'
           'on = { success = "done", wrong_credentials = "done", unavailable = "done", '
           'throttled = "done", mfa_required = "done", user_data_invalid = "done" }\n'
           '[steps.done]\ntype = "reject"\ntitle = "t"\nmessage = "m"\n')


def journey_naming_it(client):
    saved = client.post("/admin/journeys/uses-csv", data={
        "toml": JOURNEY, "csrf_token": csrf(client, "/admin/connectors")})
    assert saved.status_code == 303, text(saved)[:2000]


def test_a_connector_a_journey_needs_cannot_be_deleted(portal_app, admin_client, export):
    create(admin_client, "hashes", **hashes_fields(export))
    journey_naming_it(admin_client)
    refused = admin_client.post("/admin/connectors/legacy-csv/delete", data={
        "csrf_token": csrf(admin_client, "/admin/connectors"), "revision": "1"})
    assert refused.status_code == 303
    assert "legacy-csv" in text(admin_client.get(refused.headers["Location"]))
    assert admin_client.get("/admin/connectors/legacy-csv").status_code == 200


def test_a_connector_turned_off_answers_unavailable_without_calling(portal_app, admin_client,
                                                                     export):
    create(admin_client, "hashes", **hashes_fields(export))
    journey_naming_it(admin_client)  # a journey naming a connector that is off still validates
    token = csrf(admin_client, "/admin/connectors")
    off = admin_client.post("/admin/connectors/legacy-csv/enabled", data={
        "csrf_token": token, "revision": "1", "enabled": "0"})
    assert off.status_code == 303
    assert "is off" in text(admin_client.get(off.headers["Location"]))
    export.unlink()  # were it called, it would now say the export is missing
    tested = text(admin_client.post("/admin/connectors/legacy-csv/test", data={
        "identifier": "alice@example.com", "password": PASSWORD, "csrf_token": token}))
    assert "disabled by an operator" in tested
    assert "off: answers unavailable" in text(admin_client.get("/admin/connectors"))
    assert stored(portal_app, "legacy-csv")[0]["enabled"] is False


def test_turned_on_again_it_answers(portal_app, admin_client, export):
    create(admin_client, "hashes", **hashes_fields(export), __shown="enabled")  # created off
    token = csrf(admin_client, "/admin/connectors")
    assert stored(portal_app, "legacy-csv")[0]["enabled"] is False
    admin_client.post("/admin/connectors/legacy-csv/enabled", data={
        "csrf_token": token, "revision": "1", "enabled": "1"})
    again = text(admin_client.post("/admin/connectors/legacy-csv/test", data={
        "identifier": "alice@example.com", "password": PASSWORD, "csrf_token": token}))
    assert "The legacy IdP said yes" in again
    stale = admin_client.post("/admin/connectors/legacy-csv/enabled", data={
        "csrf_token": token, "revision": "1", "enabled": "0"})
    assert "since you opened it" in text(admin_client.get(stale.headers["Location"]))
    assert stored(portal_app, "legacy-csv")[0]["enabled"] is True
