"""The sign-in pages with bad input: every answer is a page, never a 500, and nothing leaks."""

from __future__ import annotations

import re

import pytest

from models import JourneyRun, db
from tests.accounts import count_users, create_local_user
from tests.conftest import SignIn, form_fields

EMAIL, PASSWORD = "erin@example.com", "a long local password"


@pytest.fixture
def walker(client):
    walker = SignIn(client)
    walker.start()
    return walker


def text(response) -> str:
    return response.get_data(as_text=True)


def test_sign_in_page_has_labels_and_csrf(walker):
    body = text(walker.page)
    assert '<label class="ferry-label" for="identifier">E-mail address</label>' in body
    assert '<label class="ferry-label" for="password">Password</label>' in body
    assert form_fields(body)["csrf_token"]
    assert walker.page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in walker.page.headers["Content-Security-Policy"]


def test_empty_fields_get_errors_tied_to_them(walker):
    response = walker.post(identifier="", password="")
    body = text(response)
    assert response.status_code == 200
    assert 'id="identifier-errors"' in body and "Enter your e-mail address." in body
    assert re.search(r'aria-describedby="identifier-errors"[^>]*aria-invalid="true"|'
                     r'aria-invalid="true"[^>]*aria-describedby="identifier-errors"', body)
    assert "Enter your password." in body


def test_oversized_fields_are_refused_on_the_form(walker):
    response = walker.post(identifier="a" * 300 + "@example.com", password="p" * 300)
    assert response.status_code == 200 and "Field cannot be longer than 256" in text(response)


def test_an_oversized_body_gets_a_page(walker, client):
    response = client.post("/login", data={"password": "x" * 70_000})
    assert response.status_code == 413 and "too much data" in text(response)


def test_wrong_password_and_unknown_user_read_the_same(app, walker):
    create_local_user(app, EMAIL, PASSWORD)
    wrong = text(walker.post(identifier=EMAIL, password="not it"))
    unknown = text(walker.post(identifier="nobody@example.com", password="not it"))
    message = "That e-mail address and password don&#39;t match."
    assert message in wrong and message in unknown
    assert count_users(app) == 1


def test_identifier_is_normalised_for_the_local_lookup(app, walker):
    create_local_user(app, EMAIL, PASSWORD)
    response = walker.post(identifier="  Erin@Example.COM ", password=PASSWORD)
    assert response.status_code == 303 and "code=" in response.headers["Location"]


def test_missing_csrf_token_is_refused(app, walker, client):
    create_local_user(app, EMAIL, PASSWORD)
    response = client.post("/login", data={"step": "collect", "identifier": EMAIL,
                                           "password": PASSWORD})
    assert response.status_code == 400 and "expired" in text(response)


def test_a_forged_run_id_gets_the_expired_page(walker, client):
    with client.session_transaction() as session:
        session["run"] = "forged-run-id"
    response = walker.post(identifier=EMAIL, password="x")
    assert response.status_code == 400 and "Your sign-in has expired" in text(response)


def test_a_finished_run_cannot_be_replayed(app, walker, client):
    create_local_user(app, EMAIL, PASSWORD)
    with client.session_transaction() as session:
        old_run = session["run"]
    assert walker.post(identifier=EMAIL, password=PASSWORD).status_code == 303
    with client.session_transaction() as session:
        assert "run" not in session, "the session was not renewed at sign-in"
        session["run"] = old_run
    replay = client.post("/login", data={**form_fields(text(walker.page)),
                                         "identifier": EMAIL, "password": PASSWORD})
    assert replay.status_code == 400 and "expired" in text(replay)


def test_an_expired_run_is_refused(app, walker, client):
    with app.app_context(), db.connection_context():
        JourneyRun.update(expires_at=JourneyRun.created_at).execute()
    response = walker.post(identifier=EMAIL, password=PASSWORD)
    assert response.status_code == 400 and "expired" in text(response)


def test_a_page_for_another_step_shows_the_current_one(walker):
    response = walker.post(step="legacy", identifier=EMAIL, password=PASSWORD)
    assert response.status_code == 200 and "That page was out of date" in text(response)


def test_the_session_id_changes_at_sign_in(app, walker, client):
    create_local_user(app, EMAIL, PASSWORD)
    before = client.get_cookie("ferry_session").value
    walker.post(identifier=EMAIL, password=PASSWORD)
    after = client.get_cookie("ferry_session")
    assert after.value != before and after.http_only and after.same_site == "Lax"


def test_failed_sign_ins_are_throttled_per_identifier(make_app):
    app = make_app(FAILED_SIGNINS_PER_IDENTIFIER="3 per 15 minutes")
    create_local_user(app, EMAIL, PASSWORD)
    walker = SignIn(app.test_client())
    walker.start()
    for _ in range(3):
        walker.post(identifier=EMAIL, password="wrong")
    blocked = walker.post(identifier=EMAIL, password=PASSWORD)
    assert "Too many attempts" in text(blocked), "the right password got through the throttle"


def test_opening_ferry_directly_signs_in_to_the_account_page(app, client):
    create_local_user(app, EMAIL, PASSWORD)
    walker = SignIn(client)
    walker.open()
    response = walker.post(identifier=EMAIL, password=PASSWORD)
    assert response.headers["Location"] == "/"
    assert "You are signed in as erin@example.com" in text(client.get("/"))


def test_the_same_sign_in_posted_twice_at_once_never_errors(app, walker, client):
    """A double click: two requests carry one session and one run; neither gets a 500."""
    import threading

    create_local_user(app, EMAIL, PASSWORD)
    cookie = client.get_cookie("ferry_session").value
    fields = {**form_fields(text(walker.page)), "identifier": EMAIL, "password": PASSWORD}
    twins = [app.test_client() for _ in range(2)]
    for twin in twins:
        twin.set_cookie("ferry_session", cookie)
    barrier, statuses, answers = threading.Barrier(2), [], []

    def post(twin):
        barrier.wait()
        answers.append(twin.post("/login", data=fields))
        statuses.append(answers[-1].status_code)

    threads = [threading.Thread(target=post, args=(twin,)) for twin in twins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(statuses) == 2 and 500 not in statuses, statuses
    # One signed in and reached the passkey offer; the other, stale, shows where the run is now.
    assert [answer.status_code for answer in answers] == [200, 200]
    assert all("Sign in faster next time" in text(answer) for answer in answers)
