"""Session fixation: a run id (or an IdP's answer) that one browser holds is no use in another.

The attack: an attacker starts a sign-in, plants that session cookie in the victim's browser,
and, once the victim has typed their password, replays the same cookie to finish the sign-in
as the victim. The run id changes whenever the run learns who the user is, so the replayed
copy holds a dead id. For redirect IdPs, an answer is used only by the browser that brought it
back and that holds the run. Also here: the ``__Host-`` cookie and HSTS over https, and the
CSP ``form-action`` of the sign-in pages.
"""

from __future__ import annotations

import hashlib

import pytest

import security
from blueprints import federation
from journeys import resume
from journeys import run as runs
from journeys.errors import RunMissing, StaleRun
from models import AuthorizationCode, JourneyResume, JourneyRun, OtpCode, User, UserSession, db
from tests.accounts import create_local_user
from tests.authenticators.pin.conftest import PASSWORD as PIN_USERS_PASSWORD
from tests.authenticators.pin.conftest import PIN as A_PIN
from tests.authenticators.pin.conftest import pin_page, set_pin
from tests.authenticators.soft_authenticator import SoftAuthenticator, options_of
from tests.authenticators.test_passkey import PasskeyPage, enrol
from tests.conftest import APP_REDIRECT, SignIn, form_fields, is_offer
from tests.connectors.conftest import page_text
from tests.connectors.oidc.conftest import scripted  # noqa: F401 - the fixture
from tests.connectors.oidc.flow import REJECTED, Browser, audit, ferry, scripted_connector, users
from tests.connectors.saml.conftest import idp, saml_app  # noqa: F401
from tests.journeys.test_sign_in_with_code import ask_for_code, code_app, mail  # noqa: F401

VICTIM, PASSWORD = "victim@example.com", "the victim's own password"
COOKIE = "ferry_session"
ANSWER_COOKIE = COOKIE + "-answer"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def run_token(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("run")


def csrf_token(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("csrf_token")


def stored_runs(app) -> dict[str, str]:
    """id hash -> status of every run in the database."""
    with app.app_context(), db.connection_context():
        return {row.id_hash: row.status for row in JourneyRun.select()}


def granted(app) -> tuple[int, int]:
    """Authorization codes issued and Ferry sessions started so far."""
    with app.app_context(), db.connection_context():
        return AuthorizationCode.select().count(), UserSession.select().count()


def policies(walker: SignIn) -> list[str]:
    """The CSP of an app's sign-in page as ``/authorize`` answers it, then as a reload shows it.

    Neither may be cached: the page holds the run's CSRF token (``no-store`` on both)."""
    pages = [walker.start(), walker.open()]
    assert all(page.headers["Cache-Control"] == "no-store" for page in pages)
    return [page.headers["Content-Security-Policy"] for page in pages]


def replay(client, cookie: str):
    """The attacker's browser, holding the cookie they planted (not whatever Ferry set since)."""
    client.set_cookie(COOKIE, cookie)
    return client


# -- the attack ----------------------------------------------------------------------------
def test_a_planted_cookie_completes_nothing_after_the_victims_password(app):
    create_local_user(app, VICTIM, PASSWORD)
    attacker = SignIn(app.test_client())
    attacker.start()  # the sign-in page and, with it, the cookie holding the new run
    planted = attacker.client.get_cookie(COOKIE).value
    victim = SignIn(replay(app.test_client(), planted))
    victim.page = attacker.page  # the victim is shown the sign-in page the attacker prepared
    victim.state, victim.verifier = attacker.state, attacker.verifier  # (the app's request)

    offer = victim.post(identifier=VICTIM, password=PASSWORD, decline_offers=False)
    assert offer.status_code == 200 and is_offer(page_text(offer))

    # The attacker replays the planted cookie: opens the sign-in page, presses "Not now".
    page = replay(attacker.client, planted).get("/login")
    assert page.status_code == 200 and not is_offer(page_text(page))
    assert 'name="password"' in page_text(page)  # a fresh sign-in of nobody, not the victim's run
    fields = form_fields(page_text(page))
    skip = replay(attacker.client, planted).post("/login", data={**fields, "step": "offer", "skip": "1"})
    assert skip.status_code == 400 and "Your sign-in has expired" in page_text(skip)
    # Nor is the offer page the victim was shown, should the attacker get hold of its form.
    stolen = replay(attacker.client, planted).post(
        "/login", data={**form_fields(page_text(offer)), "skip": "1"})
    assert stolen.status_code == 400
    assert granted(app) == (0, 0)

    # The victim goes on as if nothing happened.
    done = victim.post(skip="1")
    tokens = victim.exchange(victim.code_from(done))
    assert tokens.status_code == 200
    with app.app_context(), db.connection_context():
        victim_id = User.get(User.email == VICTIM).id
        assert [s.user_id for s in UserSession.select()] == [victim_id]


def test_the_password_changes_the_run_id_and_the_csrf_token(app, client):
    create_local_user(app, VICTIM, PASSWORD)
    walker = SignIn(client)
    collect = walker.start()
    before, csrf_before = run_token(client), csrf_token(client)
    offer = walker.post(identifier=VICTIM, password=PASSWORD, decline_offers=False)
    assert is_offer(page_text(offer))
    after = run_token(client)
    assert after != before and csrf_token(client) != csrf_before
    # The old id is dead at once: no row carries its hash.
    assert set(stored_runs(app)) == {_hash(after)}
    with app.test_request_context(), db.connection_context():
        with pytest.raises(RunMissing):
            runs.load(before)
    # A form carrying the CSRF token from before (known to whoever planted the session) fails.
    forged = client.post("/login", data={**form_fields(page_text(collect)), "step": "offer",
                                         "skip": "1"})
    assert forged.status_code == 400 and granted(app) == (0, 0)
    # "Not now" on the page Ferry rendered with the new token works.
    assert walker.post(skip="1").headers["Location"].startswith(APP_REDIRECT)
    assert run_token(client) is None  # the sign-in cleared the session; the finished run stays out


def test_a_code_sign_in_changes_the_run_id_and_the_code_moves_with_it(code_app, mail):  # noqa: F811
    browser = ask_for_code(code_app)
    before = run_token(browser.client)
    with code_app.app_context(), db.connection_context():
        assert OtpCode.get().run_hash == _hash(before)
    done = browser.post(code=mail.last_code("carol@example.com"))
    assert browser.exchange(browser.code_from(done)).status_code == 200
    [(after, status)] = stored_runs(code_app).items()
    assert after != _hash(before) and status == "finished"
    with code_app.app_context(), db.connection_context():
        code = OtpCode.get()
        assert code.run_hash == after and code.used_at is not None


def test_a_pin_sign_in_changes_the_run_id(app):
    create_local_user(app, VICTIM, PIN_USERS_PASSWORD)
    device = SoftAuthenticator()
    set_pin(app, VICTIM, device)  # after a password sign-in: that one changed the id too
    browser = pin_page(app, VICTIM)
    before = run_token(browser.client)
    done = browser.post(pin=A_PIN, credential=device.get(options_of(browser.page), verified=False))
    assert done.headers["Location"].startswith(APP_REDIRECT)
    assert _hash(before) not in stored_runs(app)
    assert list(stored_runs(app).values()).count("finished") == 2  # each under its new id


def test_a_passkey_sign_in_changes_the_run_id(make_app):
    app = make_app(DEFAULT_JOURNEY="passkey-sign-in")
    device = SoftAuthenticator()
    enrol(app, VICTIM, device)
    client = app.test_client()
    page = PasskeyPage(client)
    before = run_token(client)
    assert page.post(device.get(page.options)).headers["Location"] == "/"
    [(after, status)] = stored_runs(app).items()
    assert after != _hash(before) and status == "finished"


def test_adding_a_passkey_changes_the_run_id_and_keeps_the_ferry_session(app, client):
    from tests.accounts import sign_in_locally

    sign_in_locally(app, client, VICTIM, PASSWORD)
    with client.session_transaction() as session:
        signed_in = session["sid"]
    token = form_fields(client.get("/").get_data(as_text=True))["csrf_token"]
    assert client.post("/passkeys/add", data={"csrf_token": token}).status_code == 303
    started = run_token(client)
    page = client.get("/login")  # the session_user step: the run knows the user now
    assert "Add a passkey" in page_text(page)
    assert run_token(client) not in (None, started)
    done = client.post("/login", data={**form_fields(page_text(page)),
                                       "credential": SoftAuthenticator().create(options_of(page))})
    assert done.headers["Location"] == "/"
    with client.session_transaction() as session:
        assert session["sid"] == signed_in
    assert "Passkey name" in page_text(client.get("/"))


# -- the run layer -------------------------------------------------------------------------
def test_a_rotation_moves_a_pending_resume_reference_and_kills_the_old_id(app):
    create_local_user(app, VICTIM, PASSWORD)
    with app.test_request_context(), db.connection_context():
        user = User.get(User.email == VICTIM)
        token, run = runs.create("sign-in", "collect", 60, None, {})
        reference = resume.create(run, "corp", 60)
        run.set_user(user, "pwd")
        new = runs.save(run)
        assert new not in (None, token) and run.token == new
        with pytest.raises(RunMissing):
            runs.load(token)
        assert runs.load(new).context["amr"] == ["pwd"]
        assert JourneyResume.get().run_hash == _hash(new)
        assert resume.redeem(reference, "corp").model.id_hash == _hash(new)


def test_twins_that_proved_the_same_share_the_new_id_and_nobody_else_gets_it(app):
    create_local_user(app, VICTIM, PASSWORD)
    with app.test_request_context(), db.connection_context():
        user = User.get(User.email == VICTIM)
        other = User.create(email="attacker@example.com")
        token, _run = runs.create("sign-in", "collect", 60, None, {})
        first, second, third = runs.load(token), runs.load(token), runs.load(token)
        for twin in (first, second):
            twin.set_user(user, "pwd")
        third.set_user(other, "pwd")
        winner = runs.save(first)
        with pytest.raises(StaleRun):
            runs.save(second)
        # The loser, which proved the same, can follow; one that proved someone else cannot.
        assert runs.successor(second) == winner
        assert runs.successor(third) != winner
        with pytest.raises(StaleRun):
            runs.save(third)
        assert [row.id_hash for row in JourneyRun.select()] == [_hash(winner)]


# -- redirect IdPs: the answer belongs to the browser that brought it ------------------------
def test_an_answer_brought_back_by_another_browser_signs_nobody_in(make_app, scripted):  # noqa: F811
    app = ferry(make_app, scripted_connector(scripted))
    attacker, victim = Browser(app), Browser(app)
    authorize_url = attacker.to_provider()  # the attacker's run, the attacker's state
    answer = scripted.authorize(authorize_url)  # ... sent to the victim, who signs in there

    callback = victim.back(answer)
    assert callback.status_code == 303
    secret = victim.client.get_cookie(ANSWER_COOKIE).value
    mine = victim.client.get("/login")  # the victim's browser holds no run of its own
    assert mine.status_code == 200 and 'name="password"' in page_text(mine)
    assert victim.client.get_cookie(ANSWER_COOKIE) is None  # spent

    taken = attacker.client.get("/login")  # the attacker's browser holds the run, not the secret
    assert taken.status_code == 200 and REJECTED in page_text(taken)
    assert users(app) == [] and granted(app) == (0, 0)
    assert [e.details["reason"] for e in audit(app, "federation.rejected")] == [
        "the answer was carried back by another browser"]
    # One try: even with the victim's secret now, the attacker's run has no verdict left.
    attacker.client.set_cookie(ANSWER_COOKIE, secret)
    again = attacker.client.get("/login")
    assert again.status_code == 200 and 'name="password"' in page_text(again)
    assert users(app) == [] and granted(app) == (0, 0)


def test_the_browser_that_brought_the_answer_and_holds_the_run_signs_in(make_app, scripted):  # noqa: F811
    app = ferry(make_app, scripted_connector(scripted))
    browser = Browser(app)
    callback = browser.back(scripted.authorize(browser.to_provider()))
    answer_cookie = browser.client.get_cookie(ANSWER_COOKIE)
    assert answer_cookie is not None and answer_cookie.http_only and answer_cookie.same_site == "Lax"
    with app.app_context(), db.connection_context():
        [run] = JourneyRun.select()
        assert answer_cookie.value not in str(run.context)  # only its hash is kept
    done = browser.client.get(callback.headers["Location"])
    assert browser.app_id_token(done)["email"] == "alice@example.com"
    assert browser.client.get_cookie(ANSWER_COOKIE) is None


def test_a_wrong_secret_is_a_rejection(make_app, scripted):  # noqa: F811
    app = ferry(make_app, scripted_connector(scripted))
    browser = Browser(app)
    browser.back(scripted.authorize(browser.to_provider()))
    browser.client.set_cookie(ANSWER_COOKIE, "a-guess")
    page = browser.client.get("/login")
    assert REJECTED in page_text(page) and users(app) == [] and granted(app) == (0, 0)


# -- cookies and headers -------------------------------------------------------------------
HTTPS_ISSUER = "https://login.example.com"


def test_over_https_the_cookie_is_a_host_cookie_and_hsts_is_sent(make_app):
    app = make_app(ISSUER=HTTPS_ISSUER)
    create_local_user(app, VICTIM, PASSWORD)
    client = app.test_client()  # requests go to https://localhost (PREFERRED_URL_SCHEME)
    page = client.get("/login")
    assert page.request.scheme == "https"
    assert page.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    [cookie] = page.headers.getlist("Set-Cookie")
    assert cookie.startswith("__Host-ferry_session=")
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly"} <= set(attributes) and attributes["path"] == "Path=/"
    assert "domain" not in attributes
    # A whole sign-in works with it.
    walker = SignIn(client)
    done = walker.sign_in(VICTIM, PASSWORD)
    assert walker.exchange(walker.code_from(done)).status_code == 200
    with app.app_context():
        assert federation.answer_cookie() == "__Host-ferry_session-answer"


def test_over_http_neither(app, client):
    page = client.get("/login")
    assert "Strict-Transport-Security" not in page.headers
    assert page.headers["Set-Cookie"].startswith("ferry_session=")


def test_the_sign_in_page_of_an_app_may_post_only_to_ferry_and_the_app(app, client):
    for policy in policies(SignIn(client)):
        assert policy.endswith("form-action 'self' http://localhost:8000")
        assert "frame-ancestors 'none'" in policy


def test_ferry_opened_directly_posts_only_to_itself(client):
    policy = client.get("/login").headers["Content-Security-Policy"]
    assert policy.endswith("form-action 'self'")


def test_the_sign_in_page_lets_its_form_lead_to_the_idp(make_app, scripted):  # noqa: F811
    app = ferry(make_app, scripted_connector(scripted))
    for policy in policies(Browser(app).walker):
        form_action = policy.split("form-action ")[1].split()
        assert form_action == ["'self'", "http://localhost:8000", security.origin_of(scripted.issuer)]


def test_an_idp_whose_sign_in_page_is_elsewhere_is_allowed_from_its_first_redirect_on(
        make_app, scripted):  # noqa: F811
    scripted.discovery_overrides["authorization_endpoint"] = "https://sso.example.net/authorize"
    app = ferry(make_app, scripted_connector(scripted))
    first = Browser(app)
    assert first.to_provider().startswith("https://sso.example.net/authorize?")
    # The very first page could not know it without asking the IdP; a browser that blocks
    # that redirect is sent on by a reload (a GET, outside form-action).
    assert "https://sso.example.net" not in first.walker.page.headers["Content-Security-Policy"]
    for policy in policies(Browser(app).walker):
        assert "https://sso.example.net" in policy.split("form-action ")[1].split()


def test_a_saml_sign_in_page_lets_its_form_lead_to_the_sso_url(saml_app):  # noqa: F811
    app = saml_app()
    for policy in policies(SignIn(app.test_client())):
        assert policy.split("form-action ")[1].split() == [
            "'self'", "http://localhost:8000", "https://idp.example.test"]


def test_allow_form_action_keeps_origins_once_and_ignores_what_is_not_http(app):
    with app.test_request_context():
        for url in ("https://app.example.com/cb?x=1", "https://APP.example.com/other",
                    "javascript:alert(1)", "https://evil.example.com'; script-src *",
                    "http://127.0.0.1:8080/callback"):
            security.allow_form_action(url)
        response = security.secure_headers(app.response_class("x"))
    assert response.headers["Content-Security-Policy"].endswith(
        "form-action 'self' https://app.example.com http://127.0.0.1:8080")
