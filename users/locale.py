"""Which language a page speaks: the app's ``ui_locales``, then the user's saved locale, then the
browser's ``Accept-Language``, then the app's ``default_locale``, then the deployment's default
(Flask-Babel's locale selector).

Only languages Ferry has compiled translations for are chosen (``translations/``; English, the
language of the source texts, is always there as Flask-Babel's default locale), in this order
(OpenID Connect Core 3.1.2.1: ``ui_locales`` is a preference list). The deployment's default is
Flask-Babel's ``BABEL_DEFAULT_LOCALE`` (``en``). The app is the one this request's pages are for
(:func:`skin.branding.served`): the app of the journey run in the session, or the one a page is
rendered for.
"""

from __future__ import annotations

import re

from flask import current_app, g, has_request_context, request, session
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
    """Tag (lower case, ``-``) -> locale name, for every compiled catalogue; read once per app.

    Flask-Babel lists the translation folders from disk at every call, and a page asks twice;
    the catalogues are compiled at setup and never change while Ferry runs.
    """
    state = current_app.extensions.setdefault("ferry.locales", {})
    if "available" not in state:
        known = {}
        for locale in get_babel().instance.list_translations():
            name = str(locale)
            known[name.lower().replace("_", "-")] = name
            known.setdefault(locale.language.lower(), name)
        state["available"] = known
    return state["available"]


def translated() -> list[str]:
    """The locale names Ferry's pages have catalogues for (``de``, ``pt_BR``), read once per app."""
    return sorted(set(_available().values()))


def _match(tags: list[str], available: dict[str, str]) -> str | None:
    """The first of ``tags`` (``de-AT``, ``pt_BR``) Ferry has, or its language (``de``)."""
    for tag in tags:
        for candidate in (tag.lower().replace("_", "-"), tag.replace("_", "-").split("-")[0].lower()):
            if candidate in available:
                return available[candidate]
    return None


def supported(value: str) -> str | None:
    """The locale Ferry has translations for that ``value`` (``de``, ``pt_BR``) names, or None.

    ``pt_BR`` is not ``pt``: an app's default must be a language Ferry speaks as named (an
    app context is needed, for the translation folders).
    """
    available = _available()
    return available.get(value.lower().replace("_", "-"))


def check(value: str | None) -> str | None:
    """What is wrong with an app's ``default_locale`` (None: nothing), for a start-up error."""
    if value is None or supported(value) is not None:
        return None
    known = ", ".join(sorted(set(_available().values())))
    return f"no translations for {value!r} (Ferry has: {known})"


def app_default() -> str | None:
    """The ``default_locale`` of the app this request's pages are for, when Ferry has it."""
    from skin.branding import served  # at call time: users stays importable without the skin

    look = served()
    if look is None or not look.default_locale:
        return None
    return supported(look.default_locale)


def default() -> str:
    """The language when nothing the user sent names one Ferry has: the app's default, else
    the deployment's (Flask-Babel's default locale)."""
    return app_default() or get_babel().default_locale


def select() -> str | None:
    """The locale of this request (see the module docstring)."""
    if not has_request_context():
        return get_babel().default_locale  # an app context alone (a CLI command, a test): nobody to ask
    wanted = parse(getattr(g, "ui_locales", None) or session.get(SESSION_KEY))
    current = getattr(g, "ferry_session", None)
    if current is not None and current.user.locale:
        wanted.append(current.user.locale.replace("_", "-"))
    wanted += [tag for tag, _quality in request.accept_languages]  # best first
    return _match(wanted, _available()) or default()
