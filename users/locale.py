"""Which language a page speaks: the app's ``ui_locales``, then the user's locale, then the
browser's ``Accept-Language``, then the default (Flask-Babel's locale selector).

Only languages Ferry has compiled translations for are chosen (``translations/``; English, the
language of the source texts, is always there as Flask-Babel's default locale), in this order
(OpenID Connect Core 3.1.2.1: ``ui_locales`` is a preference list). The default is
Flask-Babel's ``BABEL_DEFAULT_LOCALE`` (``en``); an app entry that one day names its own
``default_locale`` plugs in at :func:`default`.
"""

from __future__ import annotations

import re

from flask import g, has_request_context, request, session
from flask_babel import get_babel

SESSION_KEY = "ui_locales"
_TAG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


def parse(value: str | None) -> list[str]:
    """The well-formed BCP 47 tags of a ``ui_locales`` value, in order (at most 10)."""
    tags = [tag for tag in (value or "").split() if len(tag) <= 35 and _TAG.match(tag)]
    return tags[:10]


def remember(value: str | None) -> None:
    """Keep an app's ``ui_locales`` for the pages of this sign-in."""
    tags = parse(value)
    if tags:
        session[SESSION_KEY] = " ".join(tags)


def _available() -> dict[str, str]:
    known = {}
    for locale in get_babel().instance.list_translations():
        name = str(locale)
        known[name.lower().replace("_", "-")] = name
        known.setdefault(locale.language.lower(), name)
    return known


def default() -> str:
    """The language when nothing asks for one that Ferry has: Flask-Babel's default locale."""
    return get_babel().default_locale


def select() -> str | None:
    """The locale of this request (see the module docstring)."""
    if not has_request_context():
        return default()  # an app context alone (a CLI command, a test): nobody to ask
    available = _available()
    wanted = parse(getattr(g, "ui_locales", None) or session.get(SESSION_KEY))
    current = getattr(g, "ferry_session", None)
    if current is not None and current.user.locale:
        wanted.append(current.user.locale.replace("_", "-"))
    wanted += [tag for tag, _quality in request.accept_languages]  # best first
    for tag in wanted:
        for candidate in (tag.lower().replace("_", "-"), tag.split("-")[0].lower()):
            if candidate in available:
                return available[candidate]
    return default()
