"""Text overrides reach the messages made in Python too: a step's field labels and validation
messages (``lazy_gettext``) and its notices (``gettext``), for the app whose branding has them
and in the language they are for, and nowhere else."""

from __future__ import annotations

from flask_babel import lazy_gettext, ngettext

from skin import branding
from tests.conftest import SignIn, form_fields
from tests.skin.conftest import REDIRECTS, sign_in_page

WRONG = "That e-mail address and password don't match. Check them and try again."
SHOP_TEXTS = {"en": {"Password": "Passphrase", "Enter your password.": "Type your passphrase.",
                     WRONG: "No luck with those. Try again."}}


def post(client, page, **data):
    """Post the sign-in form of ``page`` like the browser would."""
    return client.post("/login", data={**form_fields(page.get_data(as_text=True)), **data})


def test_an_apps_overrides_reach_its_labels_errors_and_notices_only(themed_app):
    app = themed_app(apps={"test-app": {"branding": {"texts": SHOP_TEXTS}}})

    shop, other = app.test_client(), app.test_client()
    shop_page, other_page = sign_in_page(shop, "test-app"), sign_in_page(other, "spa")
    assert '<label class="ferry-label" for="password">Passphrase</label>' in shop_page.get_data(as_text=True)
    assert '<label class="ferry-label" for="password">Password</label>' in other_page.get_data(as_text=True)

    empty = post(shop, shop_page, identifier="dana@example.com", password="").get_data(as_text=True)
    assert "Type your passphrase." in empty and "Enter your password." not in empty
    assert "Passphrase" in empty  # the label of the page shown again
    plain = post(other, other_page, identifier="dana@example.com", password="").get_data(as_text=True)
    assert "Enter your password." in plain and "Type your passphrase." not in plain

    # The notice is made by the step, before the page renders: gettext, not a template.
    wrong = post(shop, shop_page, identifier="nobody@example.com", password="not-the-password")
    assert "No luck with those. Try again." in wrong.get_data(as_text=True)
    plain = post(other, other_page, identifier="nobody@example.com", password="not-the-password")
    assert "don&#39;t match" in plain.get_data(as_text=True)


def test_overrides_are_per_language(themed_app):
    app = themed_app(branding={"texts": {"de": {"Password": "Kennwort"}}})
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    spa = SignIn(client, client_id="spa", redirect_uri=REDIRECTS["spa"], client_secret=None)

    german = spa.start().get_data(as_text=True)  # the page /authorize answers
    assert '<label class="ferry-label" for="password">Kennwort</label>' in german
    english = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<label class="ferry-label" for="password">Password</label>' in english


def test_a_plural_message_takes_the_override_of_its_english_form(themed_app):
    singular, plural = "Too many attempts. Try again in %(num)d minute.", \
        "Too many attempts. Try again in %(num)d minutes."
    app = themed_app(branding={"texts": {"en": {plural: "Wait %(num)d minutes, please."}}})

    with app.test_request_context("/login"):
        assert ngettext(singular, plural, 1) == "Too many attempts. Try again in 1 minute."
        assert ngettext(singular, plural, 5) == "Wait 5 minutes, please."


def test_a_page_rendered_for_an_app_takes_its_texts_over_the_session_guess(themed_app):
    app = themed_app(apps={"test-app": {"branding": {"texts": SHOP_TEXTS}}})
    label = lazy_gettext("Password")

    with app.test_request_context("/"):
        assert str(label) == "Password"  # no sign-in under way: the deployment's texts
        branding.serve("test-app")
        assert str(label) == "Passphrase"
        branding.serve("spa")
        assert str(label) == "Password"
