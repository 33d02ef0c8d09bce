"""Which theme and branding a page gets, the branding stylesheet, and text overrides.

The theme of a page is its app's (``OAuthClient.theme``), else ``ferry.default_theme``, else
the shipped templates. Its branding is the deployment's ``[branding]`` with the app's
``branding`` on top. The colours go to a generated stylesheet (``/branding.css``) because the
CSP allows no inline style; every value in it was validated as a hex colour or a length.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import current_app, g, url_for
from flask_babel import get_locale, get_translations

from skin.settings import BrandingSettings
from skin.views import AppView, BrandingView

_CURRENT = "ferry_branding"


@dataclass(frozen=True)
class Look:
    """What one page wears: the theme (None: the shipped templates), branding, and app."""

    theme: str | None
    branding: BrandingSettings
    app: AppView | None = None


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
                        AppView(client.client_id, client.name))
    return Look(state.default_theme, state.branding)


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


def wear(branding: BrandingSettings) -> None:
    """Make ``branding``'s text overrides apply to the rest of this request's rendering."""
    setattr(g, _CURRENT, branding)


def gettext(message: str) -> str:
    """Template gettext: the branding's override for this language, else the translation."""
    branding = g.get(_CURRENT) if g else None
    if branding is None:
        branding = skin_state().branding
    locale = get_locale()
    override = branding.text(str(locale) if locale else None, message)
    return override if override is not None else get_translations().ugettext(message)
