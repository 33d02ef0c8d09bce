"""Device-bound PINs, server side, through the shipped ``sign-in`` journey.

The device is a :class:`SoftAuthenticator`; its answers are posted the way ``ferry-webauthn.js``
posts them, so each test can change one thing: the device, the PIN, the challenge, the counter.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time

import pytest
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

import authenticators
import authenticators.passkey as passkey_module
from authenticators.pin import MAX_FAILURES, pin_pattern, pin_problem
from models import AuditEvent, PinCredential, User, UserSession, db
from tests.accounts import create_local_user
from tests.authenticators.soft_authenticator import SoftAuthenticator, options_of
from tests.authenticators.soft_authenticator import page_text as text
from tests.conftest import APP_REDIRECT, SignIn, form_fields

ALICE, BOB = "alice@example.com", "bob@example.com"
PASSWORD = "correct horse battery"
PIN = "482915"


@pytest.fixture
def app(make_app):
    app = make_app()
    create_local_user(app, ALICE, PASSWORD)
    create_local_user(app, BOB, PASSWORD)
    return app


def set_pin(app, email: str, device: SoftAuthenticator, pin: str = PIN) -> SignIn:
    """Sign in with the password, take the offer's "Use a PIN", set ``pin`` on ``device``."""
    browser = SignIn(app.test_client())
    browser.start()
    offer = browser.post(identifier=email, password=PASSWORD, decline_offers=False)
    assert "Sign in faster next time" in text(offer)
    page = browser.post(pin="1", decline_offers=False)
    assert "Set a PIN for this device" in text(page)
    done = browser.post(pin=pin, confirm=pin, credential=device.create(options_of(page)),
                        decline_offers=False)
    assert done.headers["Location"].startswith(APP_REDIRECT), text(done)[:600]
    return browser


def pin_page(app, email: str) -> SignIn:
    """A new browser at the PIN page for ``email`` (sign-in page, "Use my PIN on this device")."""
    browser = SignIn(app.test_client())
    browser.start()
    page = browser.post(identifier=email, password="", alternative="pin")
    assert "Enter your PIN" in text(page), text(page)[:600]
    return browser


def stored_pin(app, email: str) -> PinCredential:
    with app.app_context(), db.connection_context():
        return PinCredential.select().join(User).where(User.email == email).get()


def audit(app, event: str) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [e.details for e in AuditEvent.select().where(AuditEvent.event == event)]


@pytest.mark.parametrize("pin, problem", [
    ("482915", None), ("271828182845", None), ("135790", None), ("112233", None),
    ("12345", "length"), ("1234567890123", "length"), ("12a456", "digits"), ("", "digits"),
    ("١٢٣٤٥٦", "digits"), ("111111", "repeated"), ("123456", "sequence"),
    ("987654", "sequence"), ("890123", "sequence"), ("0123456789", "sequence"),
])
def test_pin_rules(pin, problem):
    assert pin_problem(pin) == problem


def test_the_html_pattern_says_what_pin_problem_says():
    """The browser's check (an HTML pattern, anchored like the browser anchors it) never
    disagrees with the server's, over every run and repeat and 20,000 random PINs."""
    browser_check = re.compile(f"^(?:{pin_pattern()})$")
    generator = random.Random(5)  # noqa: S311 - reproducible test data, not secrets
    candidates = [str(d) * n for d in range(10) for n in range(5, 14)]
    candidates += ["".join(str((start + step * i) % 10) for i in range(n))
                   for start in range(10) for step in (1, 9) for n in range(5, 14)]
    candidates += ["".join(generator.choice("0123456789") for _ in range(generator.randint(5, 13)))
                   for _ in range(20000)]
    candidates += ["12a456", "", " 482915", "482915 "]
    disagree = [pin for pin in candidates
                if bool(browser_check.match(pin)) != (pin_problem(pin) is None)]
    assert disagree == []


def test_set_a_pin_after_a_password_then_sign_in_with_device_and_pin(app):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    stored = stored_pin(app, ALICE)
    assert stored.credential_id == bytes_to_base64url(device.credential_id)
    assert stored.pin_hash.startswith("$argon2id$") and PIN not in stored.pin_hash

    browser = pin_page(app, ALICE)
    options = options_of(browser.page)
    # Non-discoverable: the server names the credential; the device need not verify the user.
    assert [c["id"] for c in options["allowCredentials"]] == [stored.credential_id]
    assert options["userVerification"] == "discouraged"
    tokens = browser.exchange(browser.code_from(
        browser.post(pin=PIN, credential=device.get(options, verified=False))))
    assert browser.id_token_claims(tokens.get_json()["id_token"])["amr"] == ["hwk", "pin", "mfa"]


def test_registration_options_ask_for_a_device_bound_key(app):
    browser = SignIn(app.test_client())
    browser.start()
    browser.post(identifier=ALICE, password=PASSWORD, decline_offers=False)
    options = options_of(browser.post(pin="1", decline_offers=False))
    selection = options["authenticatorSelection"]
    assert selection["authenticatorAttachment"] == "platform"
    assert selection["residentKey"] == "discouraged"


@pytest.mark.parametrize("pin, confirm, message", [
    ("123456", "123456", "Don't use a run like 123456"),
    ("111111", "111111", "Don't repeat one digit"),
    ("12345", "12345", "Use 6 to 12 digits."),
    ("abcdef", "abcdef", "Use digits only"),
    ("482915", "482916", "The two PINs are not the same."),
])
def test_a_weak_or_mistyped_new_pin_is_told_and_nothing_is_stored(app, pin, confirm, message):
    device = SoftAuthenticator()
    browser = SignIn(app.test_client())
    browser.start()
    browser.post(identifier=ALICE, password=PASSWORD, decline_offers=False)
    page = browser.post(pin="1", decline_offers=False)
    answer = browser.post(pin=pin, confirm=confirm, credential=device.create(options_of(page)),
                          decline_offers=False)
    assert answer.status_code == 200 and message in text(answer)
    with app.app_context(), db.connection_context():
        assert PinCredential.select().count() == 0
    # The page still works: the right PIN goes through with a fresh answer from the device.
    done = browser.post(pin=PIN, confirm=PIN, credential=device.create(options_of(answer)))
    assert done.headers["Location"].startswith(APP_REDIRECT)


def test_a_synced_key_is_refused_for_a_pin(app):
    browser = SignIn(app.test_client())
    browser.start()
    browser.post(identifier=ALICE, password=PASSWORD, decline_offers=False)
    page = browser.post(pin="1", decline_offers=False)
    synced = SoftAuthenticator(synced=True)
    answer = browser.post(pin=PIN, confirm=PIN, credential=synced.create(options_of(page)),
                          decline_offers=False)
    assert "a PIN cannot stay on this one" in text(answer)
    assert audit(app, "pin.refused")[-1]["reason"] == "synced_credential"
    with app.app_context(), db.connection_context():
        assert PinCredential.select().count() == 0


def test_the_pin_alone_is_refused_and_not_counted(app):
    set_pin(app, ALICE, SoftAuthenticator())
    browser = pin_page(app, ALICE)
    answer = browser.post(pin=PIN, credential="")
    assert "This device did not answer" in text(answer)
    assert stored_pin(app, ALICE).failed_attempts == 0


def test_the_right_pin_on_another_device_is_refused_and_not_counted(app):
    set_pin(app, ALICE, SoftAuthenticator())
    browser = pin_page(app, ALICE)
    other_device = SoftAuthenticator()  # never registered: its key is not the PIN's
    other_device.user_handle = b"x"
    answer = browser.post(pin=PIN, credential=other_device.get(options_of(browser.page)))
    assert "That didn't work" in text(answer)
    assert stored_pin(app, ALICE).failed_attempts == 0
    assert {"reason": "pin_unknown_credential"} in audit(app, "signin.failed")


def test_another_users_device_cannot_sign_in_as_alice(app):
    set_pin(app, ALICE, SoftAuthenticator())
    bobs = SoftAuthenticator()
    set_pin(app, BOB, bobs, pin="739104")
    browser = pin_page(app, ALICE)
    answer = browser.post(pin="739104", credential=bobs.get(options_of(browser.page)))
    assert "That didn't work" in text(answer)
    with app.app_context(), db.connection_context():
        assert UserSession.select().join(User).where(User.email == ALICE).count() == 1  # set_pin's


def test_wrong_pins_count_and_a_right_one_resets_the_count(app):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    browser = pin_page(app, ALICE)
    for attempt in range(1, MAX_FAILURES):
        answer = browser.post(pin="000001", credential=device.get(options_of(browser.page)))
        assert f"{MAX_FAILURES - attempt} tries left" in text(answer)
    assert stored_pin(app, ALICE).failed_attempts == MAX_FAILURES - 1
    answer = browser.post(pin=PIN, credential=device.get(options_of(browser.page)))
    assert answer.headers["Location"].startswith(APP_REDIRECT)
    assert stored_pin(app, ALICE).failed_attempts == 0


def test_ten_wrong_pins_disable_the_pin_audited_and_the_password_still_works(app):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    browser = pin_page(app, ALICE)
    for _ in range(MAX_FAILURES - 1):
        browser.post(pin="000001", credential=device.get(options_of(browser.page)))
    answer = browser.post(pin="000001", credential=device.get(options_of(browser.page)))
    assert "turned off on this device" in text(answer)
    assert 'name="password"' in text(answer)  # back on the sign-in page
    stored = stored_pin(app, ALICE)
    assert stored.disabled_at is not None
    [event] = audit(app, "pin.disabled")
    assert event == {"credential": stored.credential_id, "failures": MAX_FAILURES}

    # Even the right PIN no longer works, and the PIN page names no usable credential.
    again = pin_page(app, ALICE)
    assert [c["id"] for c in options_of(again.page)["allowCredentials"]] != [stored.credential_id]
    refused = again.post(pin=PIN, credential=device.get(options_of(again.page)))
    assert refused.status_code == 200 and "turned off" in text(refused)
    # Nobody is locked out: the password still signs Alice in.
    fresh = SignIn(app.test_client())
    assert fresh.code_from(fresh.sign_in(ALICE, PASSWORD))


@pytest.mark.parametrize("typed", ["abcdef", "12345", "1234567890123"])
def test_a_malformed_pin_is_told_and_nothing_is_spent(app, typed):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    browser = pin_page(app, ALICE)
    answer = device.get(options_of(browser.page))
    told = browser.post(pin=typed, credential=answer)
    assert "Your PIN is 6 to 12 digits." in text(told)
    assert stored_pin(app, ALICE).failed_attempts == 0
    # The challenge was not spent: the same answer goes through with the right PIN.
    assert browser.post(pin=PIN, credential=answer).headers["Location"].startswith(APP_REDIRECT)


def test_a_replayed_assertion_is_refused(app):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    browser = pin_page(app, ALICE)
    answer = device.get(options_of(browser.page))
    browser.post(pin="000001", credential=answer)  # wrong PIN: the signature is spent anyway
    replay = browser.post(pin=PIN, credential=answer)
    assert "That didn't work" in text(replay)
    assert stored_pin(app, ALICE).failed_attempts == 1


def test_an_expired_ceremony_is_refused(app, monkeypatch):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    monkeypatch.setattr(passkey_module, "CEREMONY_TTL", -1)
    browser = pin_page(app, ALICE)
    assert "That didn't work" in text(browser.post(pin=PIN, credential=device.get(options_of(browser.page))))
    assert {"reason": "pin_expired"} in audit(app, "signin.failed")


def test_a_counter_that_goes_back_is_refused_and_audited(app):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    browser = pin_page(app, ALICE)
    assert browser.post(pin=PIN, credential=device.get(options_of(browser.page), count=7)).status_code == 303
    again = pin_page(app, ALICE)
    answer = again.post(pin=PIN, credential=device.get(options_of(again.page), count=7))
    assert "That didn't work" in text(answer)
    assert audit(app, "pin.counter_regression")[-1]["received"] == 7


def test_a_wrong_origin_is_refused(app):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    browser = pin_page(app, ALICE)
    answer = browser.post(pin=PIN, credential=device.get(options_of(browser.page),
                                                          origin="https://evil.example"))
    assert "That didn't work" in text(answer)
    assert stored_pin(app, ALICE).failed_attempts == 0


def test_an_unknown_identifier_gets_the_same_page_with_a_decoy(app):
    set_pin(app, ALICE, SoftAuthenticator())
    known, unknown = pin_page(app, ALICE), pin_page(app, "nobody@example.com")
    known_options, unknown_options = options_of(known.page), options_of(unknown.page)
    assert len(unknown_options["allowCredentials"]) == len(known_options["allowCredentials"]) == 1
    assert set(unknown_options) == set(known_options)
    # The decoy is stable (a reload does not reveal it as random) and held by no device.
    assert options_of(pin_page(app, "nobody@example.com").page)["allowCredentials"] == \
        unknown_options["allowCredentials"]


def test_sign_in_another_way_goes_back_to_the_password(app):
    browser = pin_page(app, ALICE)
    fields = form_fields(browser.page.get_data(as_text=True))
    back = browser.client.post("/login", data={**fields, "other": "1"})
    assert 'name="password"' in text(back)


def test_a_pin_page_post_without_csrf_is_refused(app):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    browser = pin_page(app, ALICE)
    fields = form_fields(browser.page.get_data(as_text=True))
    fields.pop("csrf_token")
    answer = browser.client.post("/login", data={**fields, "pin": PIN,
                                                  "credential": device.get(options_of(browser.page))})
    assert answer.status_code in (200, 400) and "Location" not in answer.headers
    assert stored_pin(app, ALICE).failed_attempts == 0


def test_a_passkey_is_not_a_pin_device_and_a_pin_key_is_not_a_passkey(app):
    pin_device = SoftAuthenticator()
    set_pin(app, ALICE, pin_device)
    with app.app_context(), db.connection_context():
        alice = User.get(User.email == ALICE)
        context: dict = {}
        passkey_device = SoftAuthenticator()
        options = json.loads(authenticators.get("passkey").registration_options(context, alice))
        authenticators.get("passkey").register(context, alice, passkey_device.create(options))
    browser = pin_page(app, ALICE)
    answer = browser.post(pin=PIN, credential=passkey_device.get(options_of(browser.page)))
    assert "That didn't work" in text(answer)
    # The PIN's key on the sign-in page's passkey autofill: unknown there.
    page = SignIn(app.test_client())
    page.start()
    refused = page.post(credential=pin_device.get(options_of(page.page)))
    assert "That passkey didn't work" in text(refused)


def post_at_once(app, browser: SignIn, payloads: list[dict]) -> list:
    """Post each payload from its own client carrying ``browser``'s cookie, all at one instant."""
    cookie = browser.client.get_cookie("ferry_session")
    fields = form_fields(browser.page.get_data(as_text=True))
    barrier, answers = threading.Barrier(len(payloads)), [None] * len(payloads)

    def post(index: int) -> None:
        client = app.test_client()
        client.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
        barrier.wait()
        answers[index] = client.post("/login", data={**fields, **payloads[index]})

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_one_device_signature_posted_many_times_at_once_buys_one_guess(app):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    browser = pin_page(app, ALICE)
    answer = device.get(options_of(browser.page), count=0)  # a device that keeps no counter
    answers = post_at_once(app, browser, [{"pin": f"{100003 + 7919 * i:06d}", "credential": answer}
                                          for i in range(12)])
    assert [a.status_code for a in answers if a is not None] == [200] * 12, \
        [a.status_code for a in answers if a is not None]
    assert stored_pin(app, ALICE).failed_attempts == 1


def test_parallel_guesses_never_pass_the_limit_nor_sign_in_after_it(app):
    device = SoftAuthenticator()
    set_pin(app, ALICE, device)
    browser = pin_page(app, ALICE)
    for _ in range(MAX_FAILURES - 1):
        browser.post(pin="000001", credential=device.get(options_of(browser.page), count=0))
    # Twelve browsers, each with its own run and signature; the right PIN among the guesses.
    pages = [pin_page(app, ALICE) for _ in range(12)]
    guesses = [PIN] + [f"{200003 + 7919 * i:06d}" for i in range(11)]
    barrier, answers = threading.Barrier(12), [None] * 12

    def post(index: int) -> None:
        page = pages[index]
        signed = device.get(options_of(page.page), count=0)
        barrier.wait()
        answers[index] = page.post(pin=guesses[index], credential=signed)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(a is not None and a.status_code in (200, 303) for a in answers)
    stored = stored_pin(app, ALICE)
    assert stored.failed_attempts <= MAX_FAILURES
    # One slot was left: at most one guess was checked, so the right PIN won only if it took it.
    signed_in = [i for i, a in enumerate(answers) if a.status_code == 303]
    assert signed_in in ([], [0])
    assert (stored.disabled_at is not None) == (signed_in == [])


def test_decoys_vary_in_length_like_real_credential_ids(app):
    lengths = set()
    for n in range(40):
        browser = pin_page(app, f"nobody-{n}@example.com")
        [decoy] = options_of(browser.page)["allowCredentials"]
        lengths.add(len(base64url_to_bytes(decoy["id"])))
    assert len(lengths) >= 3 and lengths <= {16, 20, 32, 48, 63}


def test_a_reloaded_pin_page_offers_what_is_left_of_its_challenge(app, monkeypatch):
    set_pin(app, ALICE, SoftAuthenticator())
    browser = pin_page(app, ALICE)
    first = options_of(browser.page)
    now = time.time()
    monkeypatch.setattr(passkey_module, "clock", lambda: now + 100)
    browser.open()
    again = options_of(browser.page)
    assert again["challenge"] == first["challenge"]
    assert again["timeout"] <= first["timeout"] - 99_000
