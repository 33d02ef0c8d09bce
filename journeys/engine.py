"""The journey engine: load the run, call the step, follow its outcome, persist, answer.

Steps that need no input (``local_password``, ``create_user``...) run one after another within
one request until a step renders a page or redirects, so a password typed on the ``collect``
page reaches the steps that need it without ever being stored.

After :meth:`JourneyEngine.show` or :meth:`~JourneyEngine.submit`, ``run.token`` is the id the
browser must hold: a new one whenever the run learned who the user is (see ``journeys/run.py``).
An IdP's verdict reaches a run through :meth:`~JourneyEngine.receive`, and is used only by the
request that brings back the secret ``receive`` returned (see ``journeys/resume.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from flask_babel import gettext as _

from journeys import resume
from journeys import run as runs
from journeys.definition import Journey
from journeys.errors import JourneyBroken, RunMissing, StaleRun
from journeys.results import Done, Redirect, Render, Result, Switch
from journeys.run import Run

log = logging.getLogger(__name__)

#: A journey that passes through more steps than this in one request is looping.
MAX_TRANSITIONS = 32


class JourneyEngine:
    def __init__(self, journeys: dict[str, Journey], ttl: int) -> None:
        self.journeys = journeys
        self.ttl = ttl
        self._redirect_connectors: dict[str, frozenset[str]] = {}

    def start(self, journey: str, *, client_id: str | None = None,
              context: dict[str, Any] | None = None) -> str:
        """Create a run at the journey's first step; returns the id for the session."""
        definition = self.journeys[journey]
        token, _run = runs.create(journey, definition.start, self.ttl, client_id, context or {})
        return token

    def begin(self, journey: str, *, client_id: str | None = None,
              context: dict[str, Any] | None = None) -> tuple[str, Run]:
        """A run at the journey's first step, stored when first saved (:meth:`show` saves):
        its id for the session, and the run to show."""
        definition = self.journeys[journey]
        return runs.begin(journey, definition.start, self.ttl, client_id, context or {})

    def load(self, token: str | None) -> Run:
        run = runs.load(token)
        if run.journey not in self.journeys or run.step not in self.journeys[run.journey].steps:
            raise RunMissing()  # the journey changed under a run in progress
        return run

    def successor(self, run: Run) -> str | None:
        """The id ``run`` was about to get when saving it failed (see :func:`runs.successor`)."""
        return runs.successor(run)

    def show(self, run: Run, *, answer: str | None = None) -> Result:
        """GET: show the step the run is at. ``answer``: the secret from :meth:`receive`, if
        this browser brought an IdP's answer back."""
        resume.claim(run, answer)
        step = self.journeys[run.journey].step(run.step)
        return self._finish(run, self._advance(run, step.enter(run)))

    def submit(self, run: Run, form_data: Any, *, answer: str | None = None) -> Result:
        """POST: hand the form to the step the run is at."""
        resume.claim(run, answer)
        step = self.journeys[run.journey].step(run.step)
        if form_data.get("step") != run.step:
            # A page rendered for another step (back button, second tab): show where we are.
            run.add_notice(_("That page was out of date. Here is where you are now."))
            return self.show(run)
        return self._finish(run, self._advance(run, step.submit(run, form_data)))

    def receive(self, run: Run, connector: str, params: dict[str, str]) -> str:
        """A redirect IdP's answer for ``run`` arrived (the browser may carry no cookie).

        Returns the one-time secret that the browser which brought the answer must show
        (``answer`` of :meth:`show`) before the run uses the verdict.
        """
        step = self.journeys[run.journey].step(run.step)
        if not hasattr(step, "receive"):
            raise RunMissing()  # the run is not waiting for an IdP
        step.receive(run, connector, params)
        secret = resume.hand_back(run)
        runs.save(run)
        return secret

    def redirect_connectors(self, journey: str) -> frozenset[str]:
        """Connectors the pages of ``journey`` may send the browser to after a form post.

        The providers of its ``collect`` steps and the connectors of its ``federate`` steps,
        and those of the journeys it can switch to (the caller keeps the redirect ones).
        """
        if journey in self._redirect_connectors:
            return self._redirect_connectors[journey]
        names: set[str] = set()
        seen, todo = set(), [journey]
        while todo:
            current = todo.pop()
            if current in seen or current not in self.journeys:
                continue
            seen.add(current)
            for step in self.journeys[current].steps.values():
                names.update(getattr(step.settings, "providers", None) or [])
                if step.type == "federate" and getattr(step.settings, "connector", None):
                    names.add(step.settings.connector)
                if step.type == "switch":
                    todo.append(step.settings.journey)
        self._redirect_connectors[journey] = frozenset(names)
        return self._redirect_connectors[journey]

    def _advance(self, run: Run, result: Result) -> Result:
        journey = self.journeys[run.journey]
        for _hop in range(MAX_TRANSITIONS):
            if isinstance(result, Switch):
                log.debug("journey %s: %s -> journey %s", journey.name, run.step, result.journey)
                journey = self.journeys[result.journey]
                run.model.journey, run.step = journey.name, journey.start
                # The new journey proves who the user is itself: nothing proved so far carries.
                for key in ("user_id", "amr", "external_identity", "legacy_amr"):
                    run.context.pop(key, None)
                result = journey.step(journey.start).enter(run)
                continue
            if not isinstance(result, Done):
                return result
            step = journey.step(run.step)
            target = step.route(result.outcome)
            if target is None:
                raise JourneyBroken(f"{journey.name}.{step.name}: outcome {result.outcome!r} unrouted")
            log.debug("journey %s: %s -[%s]-> %s", journey.name, step.name, result.outcome, target)
            run.add_notice(result.notice)
            run.step = target
            result = journey.step(target).enter(run)
        raise JourneyBroken(f"{journey.name}: more than {MAX_TRANSITIONS} steps without a page")

    def _finish(self, run: Run, result: Result) -> Result:
        if isinstance(result, Render):
            notice = run.pop_notice()
            if notice:
                result = Render(result.template, result.form, {**result.context, "notice": notice},
                                result.status)
        runs.save(run)
        return result


__all__ = ["JourneyEngine", "Redirect", "Render", "StaleRun"]
