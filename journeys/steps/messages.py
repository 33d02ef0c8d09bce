"""Texts several steps show, kept in one place so they stay identical (no enumeration)."""

from __future__ import annotations

import math

from flask_babel import gettext as _
from flask_babel import ngettext


def N_(text: str) -> str:  # the name Babel's extractor looks for (gettext_noop)
    """Mark a default text for the catalogue without translating it here: the step that shows
    it passes it through :func:`configured`, in the language of the page it is shown on."""
    return text


def configured(text: str) -> str:
    """A text from a journey's settings, in the page's language when it is one Ferry ships.

    The defaults (``journeys/defaults.toml``, step defaults marked with :func:`N_`) are in the
    catalogues; a deployment's own text is not, so gettext returns it as written. The empty
    text stays empty: gettext would answer it with the catalogue's header.
    """
    return _(text) if text else ""


def wrong_credentials_notice() -> str:
    # The same words whether the user is unknown or the password is wrong.
    return _("That e-mail address and password don't match. Check them and try again.")


def wrong_password_notice() -> str:
    """For a user already known (a fresh proof on the account page): no enumeration to fear."""
    return _("That password is not right. Try again.")


def throttled_notice(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many attempts. Try again in %(num)d minute.",
        "Too many attempts. Try again in %(num)d minutes.",
        minutes,
    )
