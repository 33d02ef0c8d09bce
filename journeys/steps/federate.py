"""``federate``: "continue with <provider>": send the user to a redirect IdP and back.

Settings: ``connector`` (a redirect connector; left out, the provider the user picked on the
``collect`` page). Outcomes: ``success`` (``context["external_identity"]`` set), ``failure`` (the
user cancelled or the IdP refused), ``unavailable`` (the IdP failed), ``rejected`` (the answer was
forged, replayed, expired or invalid: audited; optional, defaults to ``failure``'s route),
``closed`` (the connector is in mode ``closed``: the IdP is switched off and not asked;
optional, defaults to ``unavailable``'s route).

The way back: the callback finds the run by the single-use reference sent out with the user
(``journeys/resume.py``), records the result in the run (:meth:`FederateStep.receive`), gives
the browser that brought it a one-time secret, and redirects to the sign-in page; that
top-level GET carries the session cookie again, the engine lets the result through only with
that secret (any other browser's request turns it into ``rejected``), and this step picks it up.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _

import connectors
from connectors import (
    FederationRejected,
    InvalidCredentials,
    LegacyUnavailable,
    RedirectConnector,
)
from journeys import resume
from journeys.results import Done, Redirect, Result
from journeys.steps.base import Step, StepSettings, ValidationContext
from security.audit import record


class FederateSettings(StepSettings):
    connector: str | None = None


def callback_url(connector: str) -> str:
    return current_app.config["ISSUER"] + url_for("federation.callback", connector=connector)


class FederateStep(Step):
    type = "federate"
    Settings = FederateSettings
    settings: FederateSettings
    outcomes = ("success", "failure", "unavailable", "rejected", "closed")
    optional_outcomes = {"rejected": "failure", "closed": "unavailable"}

    def check(self, context: ValidationContext) -> list[str]:
        name = self.settings.connector
        if name is None:
            return []
        if name not in context.connectors:
            return [f"connector: no connector named {name!r}"]
        if not isinstance(context.connectors[name], RedirectConnector):
            return [f"connector: {name!r} is not a redirect connector (oidc, saml)"]
        return []

    def enter(self, run) -> Result:
        result = run.context.pop("federation_result", None)
        if result is not None:
            return self._outcome(run, result)
        name = self.settings.connector or run.context.get("federate_with")
        connector = connectors.instances().get(name or "")
        if not isinstance(connector, RedirectConnector):
            return Done("failure", _("Please choose how to sign in."))
        if connector.settings.migration == "closed":
            return Done("closed")  # switched off: the IdP is not asked
        reference = resume.create(run, connector.name, current_app.config["JOURNEY_TTL"])
        try:
            url, state = connector.begin(reference, callback_url(connector.name))
        except LegacyUnavailable as error:
            record("legacy.unavailable", client_id=run.client_id, connector=connector.name,
                   reason=error.reason)
            return Done("unavailable")
        run.context["federation"] = {"connector": connector.name, "state": state}
        record("federation.started", client_id=run.client_id, connector=connector.name)
        return Redirect(url)

    def receive(self, run, connector_name: str, params: dict[str, str]) -> None:
        """The IdP's answer arrived at the callback; keep the verdict for :meth:`enter`."""
        pending = run.context.pop("federation", None)
        if not pending or pending["connector"] != connector_name:
            run.context["federation_result"] = {"kind": "rejected", "reason": "no sign-in pending"}
            return
        connector = connectors.get(connector_name)
        verdict: dict[str, Any]
        try:
            identity = connector.finish(params, pending["state"], callback_url(connector_name))
            verdict = {"kind": "identity", "identity": identity.to_context()}
            record("legacy.verified", client_id=run.client_id, connector=connector_name,
                   subject=identity.subject)
        except InvalidCredentials:
            verdict = {"kind": "refused"}
            record("federation.refused", client_id=run.client_id, connector=connector_name)
        except LegacyUnavailable as error:
            verdict = {"kind": "unavailable"}
            record("legacy.unavailable", client_id=run.client_id, connector=connector_name,
                   reason=error.reason)
        except FederationRejected as error:
            verdict = {"kind": "rejected"}
            record("federation.rejected", client_id=run.client_id, connector=connector_name,
                   reason=error.reason)
        run.context["federation_result"] = {**verdict, "connector": connector_name}

    def _outcome(self, run, result: dict[str, Any]) -> Result:
        connector = connectors.instances().get(result.get("connector", ""))
        provider = connector.label if connector else _("the other service")
        kind = result["kind"]
        if kind == "identity":
            run.context["external_identity"] = result["identity"]
            upstream = result["identity"].get("claims", {}).get("amr")
            valid = isinstance(upstream, list) and all(isinstance(m, str) for m in upstream)
            run.context["legacy_amr"] = ["fed", *(upstream if valid else [])]
            return Done("success")
        if kind == "refused":
            return Done("failure", _("Signing in with %(provider)s was cancelled or refused.",
                                     provider=provider))
        if kind == "unavailable":
            return Done("unavailable")
        return Done("rejected", _("We could not verify the answer from %(provider)s, so we did "
                                  "not use it. Please try again.", provider=provider))
