"""Texts several steps show, kept in one place so they stay identical (no enumeration)."""

from __future__ import annotations

import math

from flask_babel import gettext as _
from flask_babel import ngettext


def wrong_credentials_notice() -> str:
    # The same words whether the user is unknown or the password is wrong.
    return _("That e-mail address and password don't match. Check them and try again.")


def throttled_notice(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many attempts. Try again in %(num)d minute.",
        "Too many attempts. Try again in %(num)d minutes.",
        minutes,
    )
