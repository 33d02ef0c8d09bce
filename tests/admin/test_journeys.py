"""Portal: journeys. The list with sources, the journey page with its SVG diagram (unreachable
steps marked), editing as TOML validated as the whole deployment (an unknown step type, a
missing target, no end, a TOML error with its line: each told at its step and its line, and
nothing saved), conflicts, viewers, the file's journeys read-only, new journeys and deleting."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

import store
from models import AuditEvent, db
from tests.admin.conftest import csrf, signed_in
from tests.conftest import deployment
from tests.journeys.selfservice import text

GOOD = '''title = "Greeting"
start = "hello"
[steps.hello]
type = "notice"
title = "Hello"
message = "Hi"
button = "On"
on = { continue = "bye" }
[steps.bye]
type = "reject"
title = "Bye"
message = "Bye"
'''


def save(client, name, toml, revision=None):
    data = {"toml": toml, "csrf_token": csrf(client, "/admin/journeys")}
    if revision is not None:
        data["revision"] = revision
    return client.post(f"/admin/journeys/{name}", data=data)


def stored(app, name):
    with app.test_request_context("/admin/"), db.connection_context():
        view = store.view("journeys", name)
        return view.data if view else None


def step_part(page: str, step: str) -> str:
    """The journey page's form of ``step`` (its <details>)."""
    start = page.index(f'id="step-{step}"')
    return page[start:page.index("</details>", start)]


def test_the_list_shows_every_journey_and_its_source(portal_app, admin_client):
    save(admin_client, "greeting", GOOD)
    save(admin_client, "sign-in", '[steps.unavailable]\ntitle = "Down"\n')
    page = text(admin_client.get("/admin/journeys"))
    for name in ("sign-in", "forgot-password", "sign-up", "change-email", "greeting"):
        assert f'<span class="admin-code">{name}</span>' in page
    row = page[page.index(">sign-in<"):]
    row = row[:row.index("</tr>")]
    assert "shipped with Ferry" in row and "portal" in row
    greeting = page[page.index(">greeting<"):]
    greeting = greeting[:greeting.index("</tr>")]
    assert "portal" in greeting and "shipped" not in greeting


def test_a_journey_page_has_a_diagram_steps_and_the_editor(portal_app, admin_client):
    page = admin_client.get("/admin/journeys/sign-in").get_data(as_text=True)
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", page, flags=re.S).group(0))  # noqa: S314 (our own)
    assert svg.get("role") == "img"
    steps = {g.get("data-step") for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("data-step")}
    assert {"collect", "legacy", "done"} <= steps
    assert 'id="step-collect"' in page and 'name="on.submitted"' in page  # a form per step
    assert 'id="toml"' in page and "# Ferry&#39;s own sign-in runs as it ships" in page
    assert "admin-journeys.js" in page
    assert admin_client.get("/admin/journeys/no-such").status_code == 404


def test_an_unreachable_step_is_highlighted(portal_app, admin_client):
    lonely = GOOD + '[steps.lonely]\ntype = "notice"\ntitle = "Nobody"\non = { continue = "bye" }\n'
    assert save(admin_client, "greeting", lonely).status_code == 303
    page = text(admin_client.get("/admin/journeys/greeting"))
    assert "Unreachable from the first step: lonely." in page
    svg = re.search(r"<svg.*?</svg>", page, flags=re.S).group(0)
    assert re.search(r'class="step unreachable" data-step="lonely"', svg)
    listed = text(admin_client.get("/admin/journeys"))
    assert "1 unreachable" in listed


def test_a_new_journey_is_validated_and_saved(portal_app, admin_client):
    done = save(admin_client, "greeting", GOOD)
    assert done.status_code == 303
    assert stored(portal_app, "greeting")["start"] == "hello"
    page = text(admin_client.get("/admin/journeys/greeting"))
    assert "<svg" in page and "portal" in page
    with portal_app.app_context(), db.connection_context():
        assert AuditEvent.select().where(AuditEvent.event == "admin.journey.saved").exists()


@pytest.mark.parametrize(("change", "where", "told"), [
    (('type = "notice"', 'type = "no_such_step"'), "type", "unknown step type 'no_such_step'"),
    (('continue = "bye"', 'continue = "nowhere"'), "on.continue", "no step named 'nowhere'"),
    (('on = { continue = "bye" }', ""), "on.continue", "outcome 'continue' is not routed"),
    (('title = "Hello"', 'title = 5'), "title", "Input should be a valid string"),
])
def test_each_problem_is_shown_at_its_step_and_line(portal_app, admin_client, change, where, told):
    refused = save(admin_client, "bad", GOOD.replace(*change))
    assert refused.status_code == 400
    page = text(refused)
    assert "Nothing was saved" in page
    assert told in step_part(page, "hello")  # next to the step's form
    listing = page[page.index('class="aj-lines"'):]
    marked = re.search(r'<li class="aj-line--invalid" value="(\d+)">(.*?)</li>\s*</ul>', listing, re.S)
    assert marked and marked.group(1) == "3"  # at [steps.hello]
    assert f"hello.{where}: {told}" in marked.group(2)
    assert stored(portal_app, "bad") is None
    assert admin_client.get("/admin/journeys/bad").status_code == 404


def test_no_terminal_step(portal_app, admin_client):
    looping = GOOD.replace('continue = "bye"', 'continue = "hello"')
    refused = save(admin_client, "bad", looping.split("[steps.bye]")[0])
    assert refused.status_code == 400
    assert "journeys.bad: no terminal step (complete, reject) is reachable from 'hello'" in text(refused)
    assert stored(portal_app, "bad") is None


def test_a_toml_error_is_told_with_its_line(portal_app, admin_client):
    broken = save(admin_client, "sign-in", "\n" * 39 + "[steps.x\n")
    assert broken.status_code == 400
    page = text(broken)
    assert "Not valid TOML" in page and "line 40" in page
    assert re.search(r'<li class="aj-line--invalid" value="40"><code class="aj-line">\[steps.x</code>', page)
    assert stored(portal_app, "sign-in") is None


def test_an_overlay_on_a_shipped_journey_changes_only_what_it_names(portal_app, admin_client):
    done = save(admin_client, "sign-in", '[steps.collect]\npin = false\non = { pin = "collect" }\n')
    assert done.status_code == 303, text(done)[:2000]
    from tests.conftest import SignIn

    page = text(SignIn(portal_app.test_client()).open())
    assert "Use my PIN on this device" not in page and "E-mail me a code" in page


def test_saving_the_hint_of_a_shipped_journey_changes_nothing(portal_app, admin_client):
    hint = re.search(r'<textarea[^>]*id="toml"[^>]*>(.*?)</textarea>',
                     text(admin_client.get("/admin/journeys/sign-in")), re.S).group(1)
    kept = save(admin_client, "sign-in", hint)
    assert kept.status_code == 303 and stored(portal_app, "sign-in") is None


def test_two_admins_editing_one_journey(portal_app, admin_client):
    save(admin_client, "greeting", GOOD)
    other = signed_in(portal_app, "admin", "grace@example.com")
    assert save(admin_client, "greeting", GOOD.replace("Hi", "Hi there"), revision="1").status_code == 303
    late = save(other, "greeting", GOOD.replace("Hi", "Hello"), revision="1")
    assert late.status_code == 409 and "changed by admin@example.com" in text(late)
    assert "Hi there" in stored(portal_app, "greeting")["steps"]["hello"]["message"]


def test_a_viewer_sees_but_cannot_save(portal_app, viewer_client):
    page = text(viewer_client.get("/admin/journeys/sign-in"))
    assert "Validate and save" not in page and "readonly" in page
    assert save(viewer_client, "greeting", GOOD).status_code == 403
    token = csrf(viewer_client, "/admin/journeys")
    assert viewer_client.post("/admin/journeys/sign-in/steps", data={
        "csrf_token": token, "step": "unavailable", "type": "notice", "title": "x"}).status_code == 403
    new = viewer_client.post("/admin/journeys/new", data={"csrf_token": token, "name": "x"})
    assert new.status_code == 403
    assert stored(viewer_client.application, "greeting") is None
    assert stored(viewer_client.application, "sign-in") is None


def test_a_journey_of_the_file_is_read_only(make_app):
    app = make_app(DEPLOYMENT=deployment(journeys={"greeting": __import__("tomllib").loads(GOOD)}))
    admin = signed_in(app)
    page = text(admin.get("/admin/journeys/greeting"))
    assert "set in the configuration file" in page and "Validate and save" not in page
    refused = save(admin, "greeting", GOOD.replace("Hi", "Ho"))
    assert refused.status_code == 400 and "defined in the configuration file" in text(refused)
    token = csrf(admin, "/admin/journeys")
    assert admin.post("/admin/journeys/greeting/steps", data={
        "csrf_token": token, "step": "hello", "type": "notice", "title": "x"}).status_code == 403


def test_new_journeys_start_as_a_copy_or_a_small_sign_in(portal_app, admin_client):
    token = csrf(admin_client, "/admin/journeys/new")
    taken = admin_client.post("/admin/journeys/new", data={"name": "sign-in", "csrf_token": token})
    assert taken.status_code == 400 and "Choose a name no journey has yet" in text(taken)
    bad_name = admin_client.post("/admin/journeys/new", data={"name": "a b", "csrf_token": token})
    assert bad_name.status_code == 400 and "a name is 1 to 100 letters" in text(bad_name)
    fresh = admin_client.post("/admin/journeys/new", data={"name": "small", "csrf_token": token})
    assert fresh.status_code == 303
    assert set(stored(portal_app, "small")["steps"]) == {"collect", "local", "done"}
    editor = admin_client.get(fresh.headers["Location"])
    assert editor.status_code == 200 and 'name="toml"' in editor.get_data(as_text=True)
    copy = admin_client.post("/admin/journeys/new", data={"name": "my-sign-up", "copy": "sign-up",
                                                          "csrf_token": token})
    assert copy.status_code == 303
    assert stored(portal_app, "my-sign-up")["steps"].keys() == stored_effective(portal_app, "sign-up")


def stored_effective(app, name):
    from blueprints.admin.journeys_tables import effective

    with app.test_request_context("/admin/"), db.connection_context():
        return effective(name)["steps"].keys()


def test_deleting_a_journey_and_undoing_an_overlay(portal_app, admin_client):
    save(admin_client, "greeting", GOOD)
    save(admin_client, "sign-in", '[steps.unavailable]\ntitle = "Down"\n')
    token = csrf(admin_client, "/admin/journeys")
    unconfirmed = admin_client.post("/admin/journeys/greeting/delete",
                                    data={"csrf_token": token, "revision": "1"})
    assert unconfirmed.status_code == 303 and stored(portal_app, "greeting") is not None
    gone = admin_client.post("/admin/journeys/greeting/delete",
                             data={"csrf_token": token, "revision": "1", "confirm": "yes"})
    assert gone.status_code == 303 and stored(portal_app, "greeting") is None
    undone = admin_client.post("/admin/journeys/sign-in/delete",
                               data={"csrf_token": token, "revision": "1", "confirm": "yes"})
    assert undone.headers["Location"].endswith("/admin/journeys/sign-in")
    assert stored(portal_app, "sign-in") is None
    page = admin_client.get("/admin/journeys/sign-in").get_data(as_text=True)
    assert "Ferry&#39;s own sign-in runs as it ships" in page


def test_a_journey_an_app_uses_cannot_be_deleted(portal_app, admin_client):
    save(admin_client, "greeting", GOOD)
    with portal_app.test_request_context("/admin/"), db.connection_context():
        store.save("apps", "shop", {"name": "Shop", "redirect_uris": ["https://shop.example/cb"],
                                    "journey": "greeting"}, actor="setup", expected_revision=None)
    token = csrf(admin_client, "/admin/journeys")
    refused = admin_client.post("/admin/journeys/greeting/delete",
                                data={"csrf_token": token, "revision": "1", "confirm": "yes"},
                                follow_redirects=True)
    assert "apps.shop.journey" in text(refused)
    assert stored(portal_app, "greeting") is not None
