"""Signing in to the portal: the password, then a passkey (enrolled at the first sign-in), a
fresh portal session, no open redirect, the same answer and work for an unknown address, a
disabled admin and a wrong password, throttling per address and per IP, single-use passkey
challenges, CSRF, viewers, and the ``ferry admin`` commands."""

from __future__ import annotations

import html
import re
import time

import pytest
from webauthn.helpers import bytes_to_base64url

from models import AdminAccount, AdminPasskey, AdminSession, AuditEvent, db
from operators.sessions import SESSION_KEY, _hash
from tests.admin.conftest import ADMIN_PASSWORD, csrf, make_admin
from tests.authenticators.soft_authenticator import SoftAuthenticator, options_of, page_text

EMAIL = "ada@example.com"
MISMATCH = "That e-mail address and password don't match."


def password_step(client, email=EMAIL, password=ADMIN_PASSWORD, next_path="", **kwargs):
    return client.post("/admin/login", data={"email": email, "password": password, "next": next_path,
                                             "csrf_token": csrf(client, "/admin/login")}, **kwargs)


def passkey_step(client, device: SoftAuthenticator, enrol: bool, **answer):
    options = options_of(client.get("/admin/login/passkey"))
    answer = device.create(options) if enrol else device.get(options, **answer)
    token = csrf(client, "/admin/login/passkey")
    return client.post("/admin/login/passkey", data={"credential": answer, "csrf_token": token})


def sign_in(client, device, enrol, next_path=""):
    assert password_step(client, next_path=next_path).status_code == 303
    return passkey_step(client, device, enrol)


def sign_out(client):
    return client.post("/admin/logout", data={"csrf_token": csrf(client, "/admin/")})


def events(app, name: str) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [e.details for e in AuditEvent.select().where(AuditEvent.event == name)]


def test_first_sign_in_enrols_a_passkey_then_both_are_asked(portal_app):
    make_admin(portal_app, EMAIL)
    device = SoftAuthenticator()
    client = portal_app.test_client()
    assert password_step(client).headers["Location"] == "/admin/login/passkey"
    assert "Create your admin passkey" in page_text(client.get("/admin/login/passkey"))
    done = passkey_step(client, device, enrol=True)
    assert done.status_code == 303 and done.headers["Location"] == "/admin/"
    assert "Overview" in client.get("/admin/").get_data(as_text=True)
    assert events(portal_app, "admin.passkey_registered") == [{"admin": EMAIL}]
    sign_out(client)
    assert client.get("/admin/").status_code == 302
    password_step(client)
    assert "Use your passkey" in page_text(client.get("/admin/login/passkey"))
    assert passkey_step(client, device, enrol=False).status_code == 303
    assert client.get("/admin/").status_code == 200
    assert [e["admin"] for e in events(portal_app, "admin.signin")] == [EMAIL, EMAIL]


def test_the_password_alone_does_not_open_the_portal(portal_app):
    make_admin(portal_app, EMAIL)
    client = portal_app.test_client()
    password_step(client)
    assert client.get("/admin/apps").status_code == 302
    assert client.get("/admin/").headers["Location"].startswith("/admin/login")


def test_the_passkey_options_name_only_this_admins_passkeys(portal_app):
    make_admin(portal_app, EMAIL)
    make_admin(portal_app, "bob@example.com")
    mine, bobs = SoftAuthenticator(), SoftAuthenticator()
    sign_in(portal_app.test_client(), mine, enrol=True)
    bob = portal_app.test_client()
    bob.post("/admin/login", data={"email": "bob@example.com", "password": ADMIN_PASSWORD,
                                   "csrf_token": csrf(bob, "/admin/login")})
    passkey_step(bob, bobs, enrol=True)
    client = portal_app.test_client()
    password_step(client)
    allowed = options_of(client.get("/admin/login/passkey"))["allowCredentials"]
    assert [item["id"] for item in allowed] == [bytes_to_base64url(mine.credential_id)]
    refused = passkey_step(client, bobs, enrol=False)  # a real passkey, of another admin
    assert refused.headers["Location"].endswith("/admin/login/passkey")
    assert client.get("/admin/").status_code == 302
    assert events(portal_app, "admin.signin_failed")[-1] == {
        "admin": EMAIL, "reason": "passkey_unknown_credential"}


def test_a_stranger_key_and_a_wrong_user_handle_are_refused(portal_app):
    make_admin(portal_app, EMAIL)
    device = SoftAuthenticator()
    client = portal_app.test_client()
    sign_in(client, device, enrol=True)
    sign_out(client)
    password_step(client)
    assert "Try again" in page_text(client.get(passkey_step(client, SoftAuthenticator(), False)
                                               .headers["Location"]))
    assert passkey_step(client, device, False, handle=b"admin-99").status_code == 303
    assert client.get("/admin/").status_code == 302
    reasons = [e["reason"] for e in events(portal_app, "admin.signin_failed")]
    assert reasons == ["passkey_unknown_credential", "passkey_user_mismatch"]


def test_a_passkey_answer_counts_once_even_with_the_old_cookie(portal_app):
    """A synced passkey answers counter 0, so only the server's record of spent challenges
    stops the same answer, posted again with the cookie it was made for."""
    make_admin(portal_app, EMAIL)
    device = SoftAuthenticator(synced=True)
    first = portal_app.test_client()
    sign_in(first, device, enrol=True)
    client = portal_app.test_client()
    password_step(client)
    options = options_of(client.get("/admin/login/passkey"))
    cookie = client.get_cookie("ferry_session_admin", path="/admin").value
    data = {"credential": device.get(options, count=0), "csrf_token": csrf(client, "/admin/login/passkey")}
    assert client.post("/admin/login/passkey", data=data).headers["Location"] == "/admin/"
    replay = portal_app.test_client()
    replay.set_cookie("ferry_session_admin", cookie, path="/admin")
    again = replay.post("/admin/login/passkey", data=data)
    assert again.headers["Location"].endswith("/admin/login/passkey")
    assert replay.get("/admin/").status_code == 302
    assert events(portal_app, "admin.signin_failed")[-1]["reason"] == "passkey_replayed"


def count_hash_checks(monkeypatch) -> list[int]:
    import authenticators.password

    checks = []
    real = authenticators.password.verify_hash

    def counted(*args):
        checks.append(1)
        return real(*args)

    monkeypatch.setattr(authenticators.password, "verify_hash", counted)
    return checks


def test_unknown_disabled_and_wrong_read_the_same_and_cost_one_check(portal_app, monkeypatch):
    make_admin(portal_app, EMAIL)
    make_admin(portal_app, "old@example.com")
    portal_app.test_cli_runner().invoke(args=["ferry", "admin", "disable", "old@example.com"])
    checks = count_hash_checks(monkeypatch)
    pages = []
    for email, password in ((EMAIL, "not the password 1"), ("nobody@example.com", ADMIN_PASSWORD),
                            ("old@example.com", ADMIN_PASSWORD)):
        client = portal_app.test_client()
        token = csrf(client, "/admin/login")
        before = len(checks)
        answer = client.post("/admin/login", data={"email": email, "password": password,
                                                   "csrf_token": token})
        assert answer.status_code == 401 and len(checks) - before == 1
        pages.append(re.sub(r'value="[^"]*"', "", answer.get_data(as_text=True)))
    assert pages[0] == pages[1] == pages[2] and MISMATCH in html.unescape(pages[0])
    reasons = [e["reason"] for e in events(portal_app, "admin.signin_failed")]
    assert reasons == ["wrong", "unknown", "disabled"]


def test_wrong_passwords_are_throttled_per_address_whatever_the_ip(portal_app, monkeypatch):
    make_admin(portal_app, EMAIL)
    checks = count_hash_checks(monkeypatch)
    for n in range(10):
        password_step(portal_app.test_client(), password="wrong wrong wrong",
                      environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
    before = len(checks)
    last = password_step(portal_app.test_client(), environ_base={"REMOTE_ADDR": "10.0.1.1"})
    assert last.status_code == 429 and "Too many attempts" in page_text(last)
    assert len(checks) - before == 1  # a decoy, never the admin's hash
    assert events(portal_app, "admin.signin_throttled")


def test_wrong_passwords_are_throttled_per_ip_whatever_the_address(portal_app):
    make_admin(portal_app, EMAIL)
    for n in range(10):
        password_step(portal_app.test_client(), email=f"guess{n}@example.com")
    assert password_step(portal_app.test_client()).status_code == 429  # this IP, right password
    elsewhere = password_step(portal_app.test_client(), environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert elsewhere.status_code == 303


def test_a_right_password_is_not_counted(portal_app):
    make_admin(portal_app, EMAIL)
    for _ in range(30):
        assert password_step(portal_app.test_client()).status_code == 303


def test_sign_in_posts_are_limited_per_ip(make_app):
    app = make_app(SIGNIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    answers = [password_step(client, password="wrong wrong wrong").status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert "Too many attempts from your network" in page_text(password_step(client))


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/admin", "/login", "/admin//evil.example",
    "/\\evil.example", "/admin\\..\\..\\evil", "javascript:alert(1)", "/admin/../login",
    "http:/admin/x", " /admin/", "/admin/login?next=https://evil.example", "/adminx",
    "/admin/%2F%2Fevil.example",
])
def test_next_never_leaves_the_portal(portal_app, target):
    make_admin(portal_app, EMAIL)
    done = sign_in(portal_app.test_client(), SoftAuthenticator(), enrol=True, next_path=target)
    assert done.headers["Location"] == "/admin/"


@pytest.mark.parametrize("target", ["/admin/apps", "/admin/users?q=ada%40example.com", "/admin"])
def test_next_inside_the_portal_is_followed(portal_app, target):
    make_admin(portal_app, EMAIL)
    done = sign_in(portal_app.test_client(), SoftAuthenticator(), enrol=True, next_path=target)
    assert done.headers["Location"] == target


def test_a_portal_page_leads_to_sign_in_and_back_to_it(portal_app):
    make_admin(portal_app, EMAIL)
    client = portal_app.test_client()
    landed = client.get("/admin", follow_redirects=True)
    assert landed.request.path == "/admin/login" and "Sign in to the admin portal" in page_text(landed)
    asked = client.get("/admin/apps")
    assert asked.headers["Location"] == "/admin/login?next=/admin/apps?"
    login_page = page_text(client.get(asked.headers["Location"]))
    assert 'name="next" value="/admin/apps?"' in login_page
    done = sign_in(client, SoftAuthenticator(), enrol=True, next_path="/admin/apps?")
    assert done.headers["Location"] == "/admin/apps"
    assert client.get("/admin/login").headers["Location"] == "/admin/"  # signed in already


def test_signing_in_starts_a_new_session(portal_app):
    """No fixation: whatever the cookie held before (a planted session id too) is gone."""
    make_admin(portal_app, EMAIL)
    client = portal_app.test_client()
    with client.session_transaction("/admin/") as session:
        session[SESSION_KEY] = "planted"
        session["left_over"] = "from before"
    before = client.get_cookie("ferry_session_admin", path="/admin").value
    password_step(client)
    with client.session_transaction("/admin/") as session:
        assert "left_over" not in session and SESSION_KEY not in session
    passkey_step(client, SoftAuthenticator(), enrol=True)
    with client.session_transaction("/admin/") as session:
        token = session[SESSION_KEY]
    assert token != "planted" and client.get_cookie("ferry_session_admin", path="/admin").value != before
    with portal_app.app_context(), db.connection_context():
        assert AdminSession.get(AdminSession.id_hash == _hash(token)).ended_at is None


def test_signing_out_ends_the_session_for_good(portal_app):
    make_admin(portal_app, EMAIL)
    client = portal_app.test_client()
    sign_in(client, SoftAuthenticator(), enrol=True)
    old = client.get_cookie("ferry_session_admin", path="/admin").value
    out = sign_out(client)
    assert out.headers["Location"] == "/admin/login"
    assert "You are signed out" in page_text(client.get("/admin/login"))
    replay = portal_app.test_client()
    replay.set_cookie("ferry_session_admin", old, path="/admin")
    assert replay.get("/admin/").status_code == 302
    assert events(portal_app, "admin.signout") == [{"admin": EMAIL}]


def test_posts_without_the_csrf_token_are_refused(portal_app):
    make_admin(portal_app, EMAIL)
    client = portal_app.test_client()
    login = client.post("/admin/login", data={"email": EMAIL, "password": ADMIN_PASSWORD})
    assert login.status_code == 400 and "This form expired" in page_text(login)
    password_step(client)
    options = options_of(client.get("/admin/login/passkey"))
    device = SoftAuthenticator()
    assert client.post("/admin/login/passkey", data={"credential": device.create(options)}).status_code == 400
    with portal_app.app_context(), db.connection_context():
        assert AdminPasskey.select().count() == 0
    passkey_step(client, device, enrol=True)
    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/").status_code == 200  # still signed in


def test_the_passkey_step_expires(portal_app):
    make_admin(portal_app, EMAIL)
    client = portal_app.test_client()
    password_step(client)
    with client.session_transaction("/admin/") as session:
        session["admin_pending"] = {**session["admin_pending"], "at": int(time.time()) - 301}
    answer = client.get("/admin/login/passkey")
    assert answer.headers["Location"] == "/admin/login"
    assert "Please sign in again" in page_text(client.get("/admin/login"))


def test_a_disabled_admin_is_signed_out_and_cannot_finish(portal_app):
    make_admin(portal_app, EMAIL)
    client = portal_app.test_client()
    sign_in(client, SoftAuthenticator(), enrol=True)
    half = portal_app.test_client()
    password_step(half)
    result = portal_app.test_cli_runner().invoke(args=["ferry", "admin", "disable", EMAIL])
    assert result.exit_code == 0 and "disabled ada@example.com" in result.output
    assert client.get("/admin/").status_code == 302
    assert half.get("/admin/login/passkey").headers["Location"] == "/admin/login"
    assert password_step(portal_app.test_client()).status_code == 401


def test_a_viewer_signs_in_looks_and_signs_out_but_changes_nothing(portal_app):
    make_admin(portal_app, "vera@example.com", role="viewer")
    client = portal_app.test_client()
    client.post("/admin/login", data={"email": "vera@example.com", "password": ADMIN_PASSWORD,
                                      "csrf_token": csrf(client, "/admin/login")})
    assert passkey_step(client, SoftAuthenticator(), enrol=True).headers["Location"] == "/admin/"
    overview = page_text(client.get("/admin/"))
    assert "vera@example.com (viewer)" in overview
    refused = client.post("/admin/apps/new", data={"client_id": "shop", "name": "Shop",
                                                   "csrf_token": csrf(client, "/admin/")})
    assert refused.status_code == 403 and "Nothing was changed" in page_text(refused)
    assert "shop" not in page_text(client.get("/admin/apps"))
    assert sign_out(client).status_code == 303 and client.get("/admin/").status_code == 302


def cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=["ferry", "admin", *args], input=input)


def test_the_cli_creates_admins_under_the_password_policy(portal_app):
    twice = f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n"
    weak = cli(portal_app, "create", EMAIL, input="password\npassword\n")
    assert weak.exit_code == 1 and "too common" in weak.stderr
    short = cli(portal_app, "create", EMAIL, input="short\nshort\n")
    assert short.exit_code == 1 and "at least" in short.stderr
    mine = cli(portal_app, "create", "grace@example.com", input="grace's password\ngrace's password\n")
    assert mine.exit_code == 1 and "e-mail address" in mine.stderr
    assert cli(portal_app, "create", "not-an-address", input=twice).exit_code == 1
    assert cli(portal_app, "create", EMAIL, "--password", ADMIN_PASSWORD).exit_code == 2  # no such option
    differs = cli(portal_app, "create", EMAIL, input=f"{ADMIN_PASSWORD}\nsomething else 1\n")
    assert differs.exit_code != 0
    made = cli(portal_app, "create", " Ada@Example.com ", "--role", "viewer", input=twice)
    assert made.exit_code == 0, made.stderr
    assert ADMIN_PASSWORD not in made.output + made.stderr
    again = cli(portal_app, "create", EMAIL, input=twice)
    assert again.exit_code == 1 and "exists already" in again.stderr
    listed = cli(portal_app, "list")
    assert f"{EMAIL}\tviewer\tactive\t0 passkeys\tlast sign-in never" in listed.output
    with portal_app.app_context(), db.connection_context():
        assert AdminAccount.select().count() == 1
    assert events(portal_app, "admin.account_created") == [{"admin": EMAIL, "role": "viewer", "by": "cli"}]


def test_the_cli_refuses_unknown_admins(portal_app):
    for command in ("disable", "reset-passkeys"):
        result = cli(portal_app, command, "nobody@example.com")
        assert result.exit_code == 1 and "no admin nobody@example.com" in result.stderr


def test_reset_passkeys_lets_the_admin_enrol_a_new_one(portal_app):
    make_admin(portal_app, EMAIL)
    client = portal_app.test_client()
    sign_in(client, SoftAuthenticator(), enrol=True)
    result = cli(portal_app, "reset-passkeys", EMAIL)
    assert result.exit_code == 0 and "1 passkeys of ada@example.com forgotten" in result.output
    assert client.get("/admin/").status_code == 302  # its sessions ended
    with portal_app.app_context(), db.connection_context():
        assert AdminPasskey.select().count() == 0
    again = portal_app.test_client()
    password_step(again)
    assert "Create your admin passkey" in page_text(again.get("/admin/login/passkey"))
    assert passkey_step(again, SoftAuthenticator(), enrol=True).headers["Location"] == "/admin/"
