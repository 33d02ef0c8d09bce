"""The journey package's exception family; blueprints turn each into a page."""

from __future__ import annotations


class JourneyError(Exception):
    """Base: something about a journey or its run is wrong."""


class RunMissing(JourneyError):
    """No run for this browser: never started, expired, finished, or a forged id."""


class StaleRun(JourneyError):
    """The run changed since this page was rendered (another tab, a double submit)."""


class JourneyBroken(JourneyError):
    """A step produced an outcome the journey cannot route (a bug or a bad definition)."""
