"""Device-bound PINs, server side, through the shipped ``sign-in`` journey: the PIN rules,
setting a PIN, and signing in with the device and the PIN (wrong PINs count; ten disable it).

The device is a :class:`SoftAuthenticator`; its answers are posted the way ``ferry-webauthn.js``
posts them, so each test can change one thing: the device, the PIN, the challenge, the counter.
"""

from __future__ import annotations

import random
import re

import pytest
from webauthn.helpers import bytes_to_base64url

from authenticators.pin import MAX_FAILURES, pin_pattern, pin_problem
from models import PinCredential, User, UserSession, db
from tests.authenticators.pin.conftest import (
    ALICE,
    BOB,
    PASSWORD,
    PIN,
    audit,
    pin_page,
    set_pin,
    stored_pin,
)
from tests.authenticators.soft_authenticator import SoftAuthenticator, options_of
from tests.authenticators.soft_authenticator import page_text as text
from tests.conftest import APP_REDIRECT, SignIn


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
