"""The branding's text overrides, applied where Babel translates: one place for every message.

``[branding.texts.<language>]`` (and an app's ``branding.texts``) replace English messages by
other words. They are applied under Flask-Babel, in the catalogue it hands out
(:meth:`BrandedDomain.get_translations`), so they reach every message alike: a template's
``_()``, ``gettext`` and ``ngettext`` in Python (a step's notice), and ``lazy_gettext`` (the
WTForms field labels and validation messages of ``journeys/steps/*.py``, turned into text when
the page renders). Which branding is the one of the app the request serves
(:func:`skin.branding.served`).

For a message with a plural, the override of its English singular applies when the count is
1, the override of its English plural otherwise.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_app_context
from flask_babel import Domain, get_babel, get_locale

from skin.branding import TRANSLATIONS, served
from skin.settings import BrandingSettings


class BrandedTranslations:
    """A Babel catalogue with ``branding``'s overrides for ``locale`` on top; everything else
    (plural rules, metadata) is the catalogue's."""

    def __init__(self, catalogue: Any, branding: BrandingSettings, locale: str | None) -> None:
        self._catalogue = catalogue
        self._branding = branding
        self._locale = locale

    def ugettext(self, message: str) -> str:
        """The override of ``message``, else its translation."""
        found = self._branding.text(self._locale, message)
        return found if found is not None else self._catalogue.ugettext(message)

    def ungettext(self, singular: str, plural: str, n: int) -> str:
        """The override of the English form ``n`` takes, else the translation."""
        found = self._branding.text(self._locale, singular if n == 1 else plural)
        return found if found is not None else self._catalogue.ungettext(singular, plural, n)

    def upgettext(self, context: str, message: str) -> str:
        """Like :meth:`ugettext`; an override names the message, whatever its context."""
        found = self._branding.text(self._locale, message)
        return found if found is not None else self._catalogue.upgettext(context, message)

    def unpgettext(self, context: str, singular: str, plural: str, n: int) -> str:
        """Like :meth:`ungettext`, whatever the context."""
        found = self._branding.text(self._locale, singular if n == 1 else plural)
        return found if found is not None else self._catalogue.unpgettext(context, singular, plural, n)

    gettext = ugettext
    ngettext = ungettext
    pgettext = upgettext
    npgettext = unpgettext

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalogue, name)


class BrandedDomain(Domain):
    """Flask-Babel's message domain, handing out catalogues with the served app's overrides."""

    def get_translations(self):
        """This request's catalogue, wrapped when the branding has texts (else as it is).

        Kept for the rest of the request, for as long as its language is the same: a page
        translates a dozen messages, and finding the catalogue again each time (Flask-Babel's
        context, the locale, the app served) cost 30 times the lookup of a message. Serving
        another app forgets it (``skin.branding.serve``)."""
        locale = get_locale()
        kept = g.get(TRANSLATIONS) if has_app_context() else None
        if kept is not None and kept[0] is locale:
            return kept[1]
        catalogue = super().get_translations()
        look = served()
        if look is not None and look.branding.texts:
            catalogue = BrandedTranslations(catalogue, look.branding, str(locale) if locale else None)
        if has_app_context():
            setattr(g, TRANSLATIONS, (locale, catalogue))
        return catalogue


def init_app(app: Flask) -> None:
    """Make ``app``'s Flask-Babel translate through :class:`BrandedDomain` (after ``Babel(app)``).

    ``Babel.domain_instance`` is where Flask-Babel finds its default domain for every request
    (a cached property, so setting it replaces the one it would build). A subclass of ``Babel``
    in ``app.py`` would say the same; this keeps the skin's business in the skin.
    """
    babel = get_babel(app)
    babel.instance.domain_instance = BrandedDomain(domain=babel.default_domain)
