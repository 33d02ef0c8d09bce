"""Themes and branding: what Ferry's pages look like, per app and per deployment.

* ``themes.py``: finding theme folders, one sandboxed environment per theme, start-up checks.
* ``sandbox.py``: the sandbox theme templates render in, and what they may read.
* ``settings.py``: :class:`BrandingSettings`, the ``[branding]`` table and an app's ``branding``.
* ``branding.py``: which theme and branding a page wears; the branding stylesheet; the app a
  request serves.
* ``texts.py``: the branding's text overrides, applied under Flask-Babel to every message.
* ``views.py``: the objects pages get (``branding``, ``app``, ``step``, ``links``).
* ``routes.py``: theme static files, ``/branding.css``, the linked journeys.

Blueprints call :func:`render` instead of ``flask.render_template`` wherever an app's theme may
apply. The shipped templates render in Flask's own environment (they are Ferry's code); a theme's
templates, and the shipped ones a theme's pages extend, render in the sandbox. The skin contract
(template names, blocks, context, classes) is ``docs/themes.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, get_flashed_messages, render_template, url_for
from flask_babel import get_locale, get_translations
from flask_wtf.csrf import generate_csrf
from jinja2 import TemplateError
from pydantic import ValidationError

from settings import deployment
from settings.errors import ConfigError, pydantic_problems
from skin import attributes, texts
from skin import branding as looks
from skin.sandbox import ThemeSandbox
from skin.settings import BrandingSettings
from skin.themes import Theme, check_theme, find_theme, theme_folders, theme_loader
from skin.views import BrandingView, LinksView, StepView
from users import locale

__all__ = ["BrandingSettings", "init_app", "render"]

log = logging.getLogger(__name__)

#: Flask globals a theme gets besides Ferry's own; ``config``, ``request``, ``session`` and
#: ``g`` are left out on purpose.
_SHARED_GLOBALS = ("range", "dict", "lipsum", "cycler", "joiner", "namespace")


@dataclass
class Skin:
    """The themes in use and the deployment's branding, built once at start-up."""

    branding: BrandingSettings
    default_theme: str | None
    themes: dict[str, Theme] = field(default_factory=dict)


def init_app(app: Flask) -> None:
    """Check the branding, every theme and app language in use, build the theme environments,
    register the routes, give the shipped templates ``branding``, and make Flask-Babel apply the
    text overrides (after ``Babel(app)``).

    Needs the apps in the database (after ``provider.init_app``). Every problem is reported
    at once, naming the app and the file.
    """
    try:
        branding = BrandingSettings(**deployment(app).branding)
    except ValidationError as error:
        raise ConfigError(pydantic_problems(error, "branding")) from None
    folders = theme_folders(app.instance_path, app.config["THEME_FOLDERS"])
    skin = Skin(branding, app.config["DEFAULT_THEME"] or None)
    app.extensions["ferry.skin"] = skin
    problems: list[str] = []
    with app.app_context():  # the translation folders are the app's
        for user, theme_name, app_branding, default_locale in _theme_users(app):
            _check_user(app, skin, folders, user, theme_name, branding.merged(app_branding), problems)
            problem = locale.check(default_locale)
            if problem:
                problems.append(f"{user}.default_locale: {problem}")
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)), "themes and languages")

    from skin.routes import bp

    app.register_blueprint(bp)
    app.context_processor(lambda: {"branding": looks.branding_view(looks.look_for(None)),
                                   "app": None, "links": _links(signup=True)})
    attributes.install()
    texts.init_app(app)  # the shipped templates' _() is Flask-Babel's: overridden from now on


def check_apps(app: Flask, apps: dict) -> list[str]:
    """Problems of the theme, logo and language each app of ``apps`` (AppSettings by client
    id) would wear, for a configuration about to run (the live store checks with this)."""
    skin = app.extensions.get("ferry.skin")
    if skin is None:
        return []  # at start-up: init_app checks every app once they are in the database
    folders = theme_folders(app.instance_path, app.config["THEME_FOLDERS"])
    problems: list[str] = []
    for client_id, settings in apps.items():
        who = f"apps.{client_id}"
        theme_name = settings.theme or app.config["DEFAULT_THEME"] or None
        branding = skin.branding.merged(settings.branding)
        _check_user(app, skin, folders, who, theme_name, branding, problems)
        problem = locale.check(settings.default_locale)
        if problem:
            problems.append(f"{who}.default_locale: {problem}")
    return list(dict.fromkeys(problems))


def _theme_users(app: Flask):
    """(who, theme, branding, default_locale) for the deployment default and every app."""
    from models import OAuthClient, db

    yield "ferry.default_theme", app.config["DEFAULT_THEME"] or None, None, None
    with db.connection_context():
        for row in OAuthClient.select():
            stored = (row.settings or {}).get("branding")
            try:
                app_branding = BrandingSettings(**stored) if stored else None
            except ValidationError:
                app_branding = None  # validated when the row was written
            yield (f"apps.{row.client_id}", row.theme or app.config["DEFAULT_THEME"] or None, app_branding,
                   (row.settings or {}).get("default_locale"))


def _check_user(app: Flask, skin: Skin, folders, who: str, name: str | None,
                branding: BrandingSettings, problems: list[str]) -> None:
    """Problems of the theme and logo ``who`` (an app, or the default) would wear."""
    if name is None:
        if branding.logo_is_file:
            problems.append(f"{who}: logo {branding.logo!r} is a file, but there is no theme "
                            "to hold it (set a theme, or give an https URL)")
        return
    if name not in skin.themes:
        theme = find_theme(name, folders)
        if theme is None:
            looked = ", ".join(str(f / name) for f in folders)
            problems.append(f"{who}.theme: no theme named {name!r} (looked for {looked})")
            return
        theme.env = _environment(app, theme)
        found = check_theme(theme, theme.env, app.jinja_loader)
        problems.extend(f"{who}.theme: {problem}" for problem in found)
        skin.themes[name] = theme
    theme = skin.themes[name]
    if branding.logo_is_file and not (theme.static / branding.logo).is_file():
        problems.append(f"{who}: logo {branding.logo!r} is not a file of "
                        f"themes/{name}/static/ ({theme.static / branding.logo})")


def _environment(app: Flask, theme: Theme) -> ThemeSandbox:
    """The sandbox of one theme: its loader, Babel's filters, and the documented globals."""
    env = ThemeSandbox(theme.name, loader=theme_loader(theme, app.jinja_loader),
                       autoescape=True, extensions=["jinja2.ext.i18n"],
                       auto_reload=app.debug)
    env.filters.update(app.jinja_env.filters)
    env.globals.update({k: app.jinja_env.globals[k] for k in _SHARED_GLOBALS
                        if k in app.jinja_env.globals})
    env.globals.update(url_for=url_for, csrf_token=generate_csrf, get_locale=get_locale,
                       get_flashed_messages=get_flashed_messages,
                       theme_static=lambda filename: url_for("skin.static", theme=theme.name,
                                                             filename=filename))
    _install_gettext(env)
    return env


def _install_gettext(env) -> None:
    """Flask-Babel's callables (its catalogue holds the text overrides: ``skin/texts.py``)."""
    env.install_gettext_callables(
        gettext=lambda s: get_translations().ugettext(s),
        ngettext=lambda s, p, n: get_translations().ungettext(s, p, n),
        pgettext=lambda c, s: get_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: get_translations().unpgettext(c, s, p, n),
        newstyle=True)


def _links(signup: bool) -> LinksView:
    """Where the linked journeys start; ``sign-up`` only for an app that offers sign-up."""
    from skin.routes import LINKED_JOURNEYS

    journeys = current_app.extensions["ferry.journeys"].journeys
    return LinksView(**{key.replace("-", "_"): url_for("skin.start_linked", name=key)
                        for key in LINKED_JOURNEYS
                        if key in journeys and (signup or key != "sign-up")})


def render(template: str, *, client_id: str | None = None, **context: Any) -> str:
    """Render ``template`` in the theme of ``client_id``'s app (or the deployment's).

    The page gets ``branding``, ``app`` and ``links`` besides ``context``, and the app's text
    overrides and language (:func:`skin.branding.serve`). A theme whose page fails (an error
    the start-up could not see) is logged and the shipped page is shown instead: a theme never
    turns a page into a 500.
    """
    look = looks.serve(client_id)
    page: dict[str, Any] = {**context, "branding": looks.branding_view(look), "app": look.app,
                            "links": _links(look.signup)}
    theme = current_app.extensions["ferry.skin"].themes.get(look.theme or "")
    if theme is None or theme.env is None:
        if look.theme:
            log.warning("theme %r is not loaded; showing the shipped %s", look.theme, template)
        return render_template(template, **page)
    step = page.get("step")
    if step is not None and not isinstance(step, StepView):
        page["step"] = StepView(getattr(step, "name", ""), getattr(step, "type", ""),
                                getattr(step, "journey", ""))
    try:
        return theme.env.get_template(template).render(page)
    except (TemplateError, RecursionError, TypeError, ValueError, LookupError) as error:
        log.warning("theme %s could not render %s (%s: %s); showing the shipped page",
                    theme.name, template, type(error).__name__, error)
        return render_template(template, **{**context, **page, "step": context.get("step")})


def branding_of(client_id: str | None) -> BrandingView:
    """``branding`` as the pages of ``client_id``'s app see it."""
    return looks.branding_view(looks.look_for(client_id))
