"""Portal: the user schema (a form of rows, saved through the store, every problem at its row)
and the mapping preview (the Ferry user a legacy profile makes, a problem per field; saving a
portal connector's mapping). Viewers look only; the file's schema and connectors are read-only;
two admins saving from one revision: the second is told and nothing is lost."""

from __future__ import annotations

import json

import pytest

import store
from models import AuditEvent, User, db
from tests.admin.conftest import csrf, signed_in
from tests.conftest import deployment
from tests.connectors.hashes.legacy import hashes_table, people, write_csv
from tests.journeys.selfservice import text


def schema_form(token: str, rows: list[dict], required=(), revision=None) -> dict:
    """The schema page's form: ``rows`` as ``{"name": ..., "type": ..., "required": True}``."""
    data = {"csrf_token": token, "rows": str(len(rows)), "standard_required": list(required)}
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"a{index}-{key}"] = ("on" if value else "") if isinstance(value, bool) else value
    if revision is not None:
        data["revision"] = str(revision)
    return data


def stored_schema(app):
    with app.test_request_context("/admin/"), db.connection_context():
        view = store.view("schema", "default")
        return view.data if view else None


def test_the_page_shows_the_standard_attributes_and_a_form(portal_app, admin_client, viewer_client):
    page = text(admin_client.get("/admin/schema"))
    for name in ("email_verified", "phone", "username", "locale"):
        assert f">{name}<" in page
    assert 'name="a0-name"' in page and "Validate and save the schema" in page
    looked = text(viewer_client.get("/admin/schema"))
    assert "Validate and save the schema" not in looked and "disabled" in looked


def test_custom_attributes_and_identifiers_are_saved(portal_app, admin_client):
    token = csrf(admin_client, "/admin/schema")
    saved = admin_client.post("/admin/schema", data=schema_form(token, [
        {"name": "employee_id", "type": "string", "identifier": True, "description": "HR number"},
        {"name": "born", "type": "date", "required": True}], required=["given_name"]))
    assert saved.status_code == 303, text(saved)[:2000]
    assert stored_schema(portal_app) == {"required": ["given_name"], "attributes": {
        "employee_id": {"unique": True, "identifier": True, "description": "HR number"},
        "born": {"type": "date", "required": True}}}
    page = text(admin_client.get("/admin/schema"))
    assert 'value="employee_id"' in page and "[schema.attributes.born]" in page
    with portal_app.app_context(), db.connection_context():
        assert AuditEvent.select().where(AuditEvent.event == "admin.schema.saved").exists()
    # Removing one keeps the other.
    removed = admin_client.post("/admin/schema", data=schema_form(token, [
        {"name": "employee_id", "identifier": True, "existing": "1"},
        {"name": "born", "type": "date", "existing": "1", "remove": True}], revision=1))
    assert removed.status_code == 303
    assert stored_schema(portal_app) == {"attributes": {
        "employee_id": {"unique": True, "identifier": True}}}


@pytest.mark.parametrize(("row", "told"), [
    ({"name": "email"}, "email is a standard attribute"),
    ({"name": "Emp-Id"}, "lower-case letters, digits and _"),
    ({"name": "x", "type": "colour"}, "unknown type 'colour'"),
    ({"name": "x", "type": "integer", "identifier": True}, "an identifier is a string"),
    ({"name": "", "required": True}, "give the attribute a name"),
])
def test_a_bad_row_is_told_at_the_row_and_nothing_is_saved(portal_app, admin_client, row, told):
    token = csrf(admin_client, "/admin/schema")
    refused = admin_client.post("/admin/schema", data=schema_form(token, [row]))
    assert refused.status_code == 400
    page = text(refused)
    assert told in page and 'id="a0-errors"' in page and "Nothing was saved" in page
    assert stored_schema(portal_app) is None


def test_a_name_given_twice(portal_app, admin_client):
    token = csrf(admin_client, "/admin/schema")
    refused = admin_client.post("/admin/schema", data=schema_form(token, [{"name": "x"}, {"name": "x"}]))
    assert refused.status_code == 400 and "x is declared twice" in text(refused)
    assert stored_schema(portal_app) is None


def test_two_admins_saving_the_schema_from_one_revision(portal_app, admin_client):
    token = csrf(admin_client, "/admin/schema")
    assert admin_client.post("/admin/schema", data=schema_form(token, [{"name": "a"}])).status_code == 303
    other = signed_in(portal_app, "admin", "grace@example.com")
    other_token = csrf(other, "/admin/schema")
    assert admin_client.post("/admin/schema", data=schema_form(
        token, [{"name": "a", "existing": "1"}, {"name": "b"}], revision=1)).status_code == 303
    late = other.post("/admin/schema", data=schema_form(
        other_token, [{"name": "a", "existing": "1"}, {"name": "c"}], revision=1))
    assert late.status_code == 409 and "changed by admin@example.com" in text(late)
    assert set(stored_schema(portal_app)["attributes"]) == {"a", "b"}


def test_a_viewer_cannot_change_the_schema(portal_app, viewer_client):
    token = csrf(viewer_client, "/admin/schema")
    refused = viewer_client.post("/admin/schema", data=schema_form(token, [{"name": "x"}]))
    assert refused.status_code == 403
    assert stored_schema(portal_app) is None


def test_the_files_schema_is_read_only(make_app):
    app = make_app(DEPLOYMENT=deployment(schema={"attributes": {"floor": {"type": "integer"}}}))
    admin = signed_in(app)
    page = text(admin.get("/admin/schema"))
    assert "change it there" in page and "Validate and save the schema" not in page
    refused = admin.post("/admin/schema", data=schema_form(csrf(admin, "/admin/schema"), [{"name": "x"}]))
    assert refused.status_code == 400 and "defined in the configuration file" in text(refused)


# -- the preview ------------------------------------------------------------------------------

def preview(client, mapping, profile, **extra):
    token = csrf(client, "/admin/schema/preview")
    return client.post("/admin/schema/preview", data={
        "csrf_token": token, "connector": "", "profile": json.dumps(profile),
        "mapping": mapping if isinstance(mapping, str) else json.dumps(mapping), **extra})


def cell(page: str, attribute: str) -> str:
    """The preview table's row of ``attribute``, as text."""
    start = page.index(f'<span class="admin-code">{attribute}</span></th>')
    return page[start:page.index("</tr>", start)]


def test_the_preview_shows_the_user_and_a_problem_per_field(portal_app, admin_client):
    token = csrf(admin_client, "/admin/schema")
    admin_client.post("/admin/schema", data=schema_form(token, [
        {"name": "employee_id", "type": "integer", "required": True},
        {"name": "born", "type": "date"}], required=["family_name"]))
    with portal_app.app_context(), db.connection_context():
        User.create(email="taken@example.com")
    mapping = {"email": "mail|lower|trim", "given_name": "first", "employee_id": "emp|int",
               "born": "dob", "family_name": "surname", "email_verified": "verified",
               "groups": "groups|split(,)", "nick": "nick|shout"}
    page = text(preview(admin_client, mapping, {
        "mail": " Taken@Example.COM", "first": "Ada", "emp": "E-17", "dob": "soon",
        "verified": "yes", "groups": "a,b"}))
    assert '"taken@example.com"' in cell(page, "email")
    assert "a Ferry user has this email already" in cell(page, "email")
    assert "required, but absent: int: a str that is not a whole number" in cell(page, "employee_id")
    assert "str where the schema wants date" in cell(page, "born")
    assert "required, but absent: 'surname' is not in the legacy profile" in cell(page, "family_name")
    assert "str where the schema wants boolean: add |bool" in cell(page, "email_verified")
    assert "not declared in the user schema" in cell(page, "groups")
    assert "unknown transform 'shout' (transform 1)" in cell(page, "nick")
    assert '"Ada"' in cell(page, "given_name") and "aj-problem" not in cell(page, "given_name")
    assert "7 attributes have a problem" in page
    with portal_app.app_context(), db.connection_context():
        assert User.select().count() == 1  # nothing created


def test_the_preview_says_which_json_is_broken(portal_app, admin_client):
    broken = preview(admin_client, '{"email":\n  "mail",,}', {})
    assert broken.status_code == 400
    assert "Mapping: not JSON: Expecting property name enclosed in double quotes: line 2" in text(broken)
    listed = preview(admin_client, {"email": "mail"}, [])  # a list, not an object
    assert "Legacy profile: must be a JSON object" in text(listed)


@pytest.fixture
def portal_connector(portal_app, tmp_path):
    """A connector of the portal (in the store) over a CSV export."""
    export = write_csv(tmp_path / "users.csv", people())
    with portal_app.test_request_context("/admin/"), db.connection_context():
        store.save("connectors", "legacy", hashes_table(export), actor="setup", expected_revision=None)
    return "legacy"


def test_saving_a_mapping_to_a_portal_connector(portal_app, admin_client, portal_connector):
    page = text(admin_client.get("/admin/schema/preview?connector=legacy"))
    assert "first_name" in page and "Preview and save this mapping to legacy" in page
    mapping = {"email": "email|lower", "given_name": "first_name|trim"}
    saved = preview(admin_client, mapping, {"email": "A@B.C"}, connector="legacy", revision="1", save="1")
    assert saved.status_code == 303, text(saved)[:2000]
    with portal_app.test_request_context("/admin/"), db.connection_context():
        view = store.view("connectors", "legacy")
        assert view.data["mapping"] == mapping and view.revision == 2
        assert AuditEvent.select().where(AuditEvent.event == "admin.connector.mapping_saved").exists()
    # Another admin who opened it at revision 1 is told, and nothing is lost.
    late = preview(signed_in(portal_app, "admin", "grace@example.com"), {"email": "mail"}, {},
                   connector="legacy", revision="1", save="1")
    assert late.status_code == 409 and "changed by admin@example.com" in text(late)
    # A mapping the connector refuses is not saved.
    bad = preview(admin_client, {"email": "email|shout"}, {}, connector="legacy", revision="2", save="1")
    assert bad.status_code == 400 and "connectors.legacy.mapping.email: unknown transform" in text(bad)
    with portal_app.test_request_context("/admin/"), db.connection_context():
        assert store.view("connectors", "legacy").data["mapping"] == mapping


def test_a_files_connector_is_previewed_but_not_saved(make_app, tmp_path):
    export = write_csv(tmp_path / "users.csv", people())
    app = make_app(DEPLOYMENT=deployment({"legacy": hashes_table(export)}))
    admin = signed_in(app)
    page = text(admin.get("/admin/schema/preview?connector=legacy"))
    assert "changed in the file" in page and "Preview and save" not in page
    previewed = preview(admin, {"email": "email"}, {"email": "a@b.c"}, connector="legacy")
    assert previewed.status_code == 200 and '"a@b.c"' in text(previewed)
    refused = preview(admin, {"email": "email"}, {}, connector="legacy", save="1")
    assert refused.status_code == 400 and "defined in the configuration file" in text(refused)


def test_a_viewer_previews_but_cannot_save(portal_app, viewer_client, portal_connector):
    assert "Preview and save" not in text(viewer_client.get("/admin/schema/preview?connector=legacy"))
    refused = preview(viewer_client, {"email": "mail"}, {}, connector="legacy", save="1")
    assert refused.status_code == 403
    with portal_app.test_request_context("/admin/"), db.connection_context():
        assert store.view("connectors", "legacy").revision == 1
