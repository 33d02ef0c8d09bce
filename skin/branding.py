"""Which theme and branding a page gets, the branding stylesheet, and the app a request serves.

The theme of a page is its app's (``OAuthClient.theme``), else ``ferry.default_theme``, else
the shipped templates. Its branding is the deployment's ``[branding]`` with the app's
``branding`` on top. The colours go to a generated stylesheet (``/branding.css``) because the
CSP allows no inline style; every value in it was validated as a hex colour or a length.

The app a request serves (:func:`served`) is the one :func:`serve` was given (``skin.render``
gives it), else the app of the journey run in the session: the text overrides
(``skin/texts.py``) and the app's ``default_locale`` (``users/locale.py``) are needed before the
page renders, when a step builds its form or its notice.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from flask import current_app, g, has_request_context, session, url_for
from flask_babel import refresh
from peewee import PeeweeException
from playhouse.pool import MaxConnectionsExceeded

from skin.settings import BrandingSettings
from skin.views import AppView, BrandingView

log = logging.getLogger(__name__)

_SERVED = "ferry_served"
#: ``g`` key of this request's catalogue (``skin/texts.py``), forgotten with Flask-Babel's caches.
TRANSLATIONS = "ferry_translations"


@dataclass(frozen=True)
class Look:
    """What one page wears: the theme (None: the shipped templates), branding, and app; whether
    the app offers sign-up, and its language when the user names none Ferry has."""

    theme: str | None
    branding: BrandingSettings
    app: AppView | None = None
    signup: bool = True
    default_locale: str | None = None


def skin_state():
    """The ``Skin`` of the current app (see :func:`skin.init_app`)."""
    return current_app.extensions["ferry.skin"]


def look_for(client_id: str | None) -> Look:
    """The theme and branding of ``client_id``'s pages, or the deployment's (no app)."""
    state = skin_state()
    if client_id:
        from provider import clients  # at call time: provider imports skin.settings

        client = clients.find(client_id)
        if client is not None:
            stored = client.setting("branding", None)
            branding = state.branding.merged(BrandingSettings(**stored) if stored else None)
            return Look(client.row.theme or state.default_theme, branding,
                        AppView(client.client_id, client.name), signup=client.signup,
                        default_locale=client.setting("default_locale", None))
    return Look(state.default_theme, state.branding)


def serve(client_id: str | None) -> Look:
    """Make the rest of this request ``client_id``'s app's (or the deployment's): its text
    overrides and language. A language chosen for another app before is chosen again."""
    before = g.get(_SERVED)
    if before is not None and before.app is not None and before.app.client_id == client_id:
        return before  # the app of the session's run, found earlier in this request
    look = look_for(client_id)
    setattr(g, _SERVED, look)
    if before is not None and (before.app, before.default_locale) != (look.app, look.default_locale):
        refresh()
        g.pop(TRANSLATIONS, None)
    return look


def served() -> Look | None:
    """The look of the app this request serves (see the module docstring); None before the skin
    is set up. Without a database (it is restarting), the deployment's."""
    if _SERVED not in g:
        if "ferry.skin" not in current_app.extensions:
            return None
        try:
            look = look_for(_client_of_session_run())
        except (PeeweeException, MaxConnectionsExceeded) as error:  # the 503 page needs texts too
            log.debug("no app for this request's texts and language: %s", error)
            look = Look(skin_state().default_theme, skin_state().branding)
        setattr(g, _SERVED, look)
    return g.get(_SERVED)


def _client_of_session_run() -> str | None:
    """The app of the journey run this browser is in, if any."""
    if not has_request_context() or not session.get("run"):
        return None
    from journeys import engine
    from journeys.errors import RunMissing
    from journeys.run import app_of_loaded

    known, client_id = app_of_loaded(session.get("run"))
    if known:
        return client_id
    try:
        return engine().load(session.get("run")).client_id
    except RunMissing:
        return None


def branding_view(look: Look) -> BrandingView:
    """``branding`` of a page; an https logo is added to the response's CSP img-src."""
    from security import allow_image

    branding = look.branding
    logo = branding.logo
    if logo and branding.logo_is_file:
        logo = url_for("skin.static", theme=look.theme, filename=logo) if look.theme else None
    elif logo:
        allow_image(logo)
    stylesheet = None
    if branding.colors or branding.radius:
        stylesheet = url_for("skin.branding_css", app=look.app.client_id if look.app else None,
                             v=fingerprint(branding))
    name = branding.product_name or "Ferry"
    return BrandingView(product_name=name, logo_url=logo, logo_alt=branding.logo_alt or name,
                        stylesheet_url=stylesheet, support_url=branding.support_url,
                        terms_url=branding.terms_url, privacy_url=branding.privacy_url)


def stylesheet(branding: BrandingSettings) -> str:
    """The custom properties of ``branding`` as CSS; only validated values reach it."""
    lines = [f"  --ferry-{name}: {value};" for name, value in sorted(branding.colors.items())]
    if branding.radius:
        lines.append(f"  --ferry-radius: {branding.radius};")
    return ":root {\n" + "\n".join(lines) + "\n}\n"


def fingerprint(branding: BrandingSettings) -> str:
    """A short hash of the stylesheet, so a changed branding is a new URL (cache busting)."""
    return hashlib.sha256(stylesheet(branding).encode()).hexdigest()[:12]
