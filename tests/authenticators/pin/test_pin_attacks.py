"""Device-bound PINs under attack: replayed, expired or rolled-back assertions, a wrong origin,
unknown identifiers (a decoy), missing CSRF, a passkey posing as a PIN device, and one
signature or many guesses posted at once.
"""

from __future__ import annotations

import json
import threading
import time

from webauthn.helpers import base64url_to_bytes

import authenticators
import authenticators.passkey as passkey_module
from authenticators.pin import MAX_FAILURES
from models import User, db
from tests.authenticators.pin.conftest import (
    ALICE,
    PIN,
    audit,
    pin_page,
    set_pin,
    stored_pin,
)
from tests.authenticators.soft_authenticator import SoftAuthenticator, options_of
from tests.authenticators.soft_authenticator import page_text as text
from tests.conftest import SignIn, form_fields


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
