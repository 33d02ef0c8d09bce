"""Journeys: sign-in flows as data, run by :class:`journeys.engine.JourneyEngine`.

* ``defaults.toml``: the journeys Ferry ships; ``[journeys.<name>]`` in the configuration file
  adds journeys or replaces shipped ones.
* ``steps/``: one module per step type.
* ``engine.py``: runs a journey; ``run.py``: the server-side state of a run.
"""

from __future__ import annotations

from flask import Flask, current_app

from journeys.definition import Journey, load_journeys
from journeys.engine import JourneyEngine
from journeys.steps import ValidationContext
from settings import deployment


def init_app(app: Flask) -> None:
    context = ValidationContext(connectors=app.extensions["ferry.connectors"], config=app.config)
    journeys = load_journeys(deployment(app).journeys, context)
    app.extensions["ferry.journeys"] = JourneyEngine(journeys, app.config["JOURNEY_TTL"])


def engine() -> JourneyEngine:
    return current_app.extensions["ferry.journeys"]


__all__ = ["Journey", "JourneyEngine", "engine", "init_app"]
