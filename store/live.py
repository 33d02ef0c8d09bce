"""The running configuration: the file's objects plus the store's, validated as one, and picked
up by every server within a second or two of a save.

Objects of the configuration file are declarative: applied at start and read-only in the portal.
Objects of the store (the portal's, an import's) are added to them; a name the file defines
cannot be created in the store. The whole is validated exactly as the file is at start-up
(connectors, journeys, apps, branding), so the store can never hold what the file would refuse.

Pick-up: each server process compares the store's revision counter with the one it loaded, at
most once a second (one indexed single-row read, whatever the traffic: no polling storm). When
it moved, the process builds the new configuration and swaps it in; a configuration that fails
to build (two saves valid alone but not together) is logged and the last good one stays.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from flask import Flask, current_app
from pydantic import ValidationError

from journeys.definition import load_journeys
from journeys.engine import JourneyEngine
from journeys.steps import ValidationContext
from models import db
from settings.errors import ConfigError, pydantic_problems
from settings.file import Deployment, resolve_secret_references
from store import objects
from store.kinds import KINDS, SINGLETON

log = logging.getLogger(__name__)

#: Seconds between two looks at the store's revision, per server process.
CHECK_EVERY = 1.0


@dataclass
class Loaded:
    """What a process runs: the deployment, and the store revision it came from."""

    deployment: Deployment
    revision: int
    checked_at: float = 0.0


def file_deployment(app: Flask | None = None) -> Deployment:
    """The configuration file's own deployment (what the portal shows read-only)."""
    return (app or current_app).extensions["ferry.file_deployment"]


def file_defines(kind_name: str, name: str, app: Flask | None = None) -> bool:
    """Whether the configuration file defines this object (then it is read-only)."""
    tables = getattr(file_deployment(app), kind_name)
    if KINDS[kind_name].named:
        return name in tables
    return bool(tables)


def merged(base: Deployment, stored: list[tuple[str, str, dict[str, Any]]]) -> Deployment:
    """``base`` with the store's objects (plain tables, ``env:`` references resolved) added."""
    tables: dict[str, Any] = {name: dict(getattr(base, name)) for name in KINDS}
    problems: list[str] = []
    for kind_name, name, data in stored:
        data = resolve_secret_references(data, problems, f"{kind_name}.{name}")
        if KINDS[kind_name].named:
            if name not in getattr(base, kind_name):
                tables[kind_name][name] = data
        elif not getattr(base, kind_name) and name == SINGLETON:
            tables[kind_name] = data
    if problems:
        raise ConfigError(problems, "the configuration store")
    return replace(base, source=f"{base.source} + store", **tables)


def stored_tables(overrides: dict[tuple[str, str], dict | None] | None = None):
    """Every stored object as ``(kind, name, plain data)``, with ``overrides`` (None: deleted)."""
    found = {(row.kind, row.name): objects.plain(row.data) for row in objects.all_objects()}
    for key, data in (overrides or {}).items():
        if data is None:
            found.pop(key, None)
        else:
            found[key] = data
    return [(kind_name, name, data) for (kind_name, name), data in sorted(found.items())]


@dataclass
class Built:
    """A deployment's parts, built and validated, ready to be swapped in."""

    deployment: Deployment
    connectors: dict
    engine: JourneyEngine
    apps: dict


def build(app: Flask, deployment: Deployment, strict_themes: bool = True) -> Built:
    """Build and validate everything ``deployment`` describes; ConfigError lists all problems.

    ``strict_themes=False`` (a server picking up a change another server saved): a theme or
    logo this server lacks is logged, not refused; its apps show the shipped pages here until
    the theme's folder is deployed, and every other change still takes effect."""
    import connectors
    from provider import clients
    from skin import check_apps
    from skin.settings import BrandingSettings
    from users.schema import UserSchema

    built = connectors.build_connectors(deployment.connectors, app.config)
    context = ValidationContext(connectors=built, config=app.config)
    journeys = load_journeys(deployment.journeys, context)
    if app.config["DEFAULT_JOURNEY"] not in journeys:
        raise ConfigError(f"ferry.default_journey: no journey named {app.config['DEFAULT_JOURNEY']!r}")
    apps = clients.validate_apps(deployment.apps, set(journeys))
    themed = check_apps(app, apps)
    if themed and strict_themes:
        raise ConfigError(themed, "themes and languages")
    for problem in themed:
        log.error("this server lacks what the configuration names (shipped pages shown "
                  "instead): %s", problem)
    try:
        BrandingSettings(**deployment.branding)
    except ValidationError as error:
        raise ConfigError(pydantic_problems(error, "branding")) from None
    try:
        UserSchema(**deployment.schema)
    except ValidationError as error:
        raise ConfigError(pydantic_problems(error, "schema")) from None
    return Built(deployment, built, JourneyEngine(journeys, app.config["JOURNEY_TTL"]), apps)


def validate(app: Flask, overrides: dict[tuple[str, str], dict | None]) -> Built:
    """The deployment the store would make with ``overrides``, built; :class:`objects.Invalid`
    names every problem."""
    try:
        return build(app, merged(file_deployment(app), stored_tables(overrides)))
    except ConfigError as error:
        raise objects.Invalid(error.problems) from None


def swap(app: Flask, built: Built, revision: int, sync_apps: bool = True) -> None:
    """Run ``built`` from now on (each part is replaced whole)."""
    from provider import clients

    if sync_apps:
        clients.sync_config_apps(built.apps, app.config["DEFAULT_JOURNEY"], app.config["SECRET_KEY"])
    clients.forget_cached(app)  # the apps another server synced: read them afresh
    app.extensions["ferry.connectors"] = built.connectors
    app.extensions["ferry.journeys"] = built.engine
    app.extensions["ferry.deployment"] = built.deployment
    app.extensions["ferry.store_loaded"] = Loaded(built.deployment, revision, time.monotonic())


_reload_lock = threading.Lock()


def check(app: Flask) -> None:
    """Before a request: pick up the store's changes, at most one look a second per process."""
    loaded: Loaded = app.extensions["ferry.store_loaded"]
    now = time.monotonic()
    if now - loaded.checked_at < CHECK_EVERY:
        return
    loaded.checked_at = now
    db.connect(reuse_if_open=True)  # the request's own connection (models.database lends it)
    current = objects.revision()
    if current == loaded.revision:
        return
    with _reload_lock:
        if app.extensions["ferry.store_loaded"].revision == current:
            return  # another thread of this process did it
        reload(app, current)


def reload(app: Flask, revision: int | None = None) -> bool:
    """Build the store's configuration and run it; False (logged) when it does not build.
    Inside a request or an app context with a connection."""
    revision = objects.revision() if revision is None else revision
    try:
        built = build(app, merged(file_deployment(app), stored_tables()), strict_themes=False)
    except ConfigError as error:
        log.error("configuration store revision %s does not build; still running revision %s: %s",
                  revision, app.extensions["ferry.store_loaded"].revision, error)
        app.extensions["ferry.store_loaded"].revision = revision  # do not retry every second
        return False
    swap(app, built, revision, sync_apps=False)
    log.info("configuration store revision %s is live", revision)
    return True
