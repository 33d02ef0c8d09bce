"""The journey dry run: walk a journey from its first step with sample inputs and say what each
step would answer, changing nothing.

Some steps can decide from the sample alone: ``collect`` and ``identify`` take the sample
identifier (and password), ``local_password`` looks the user up and checks the sample password
against the stored hash (read-only: no rehash, no throttle, no audit), ``legacy_password``
really asks the chosen connector (or the step's own connectors) and maps the profile,
``create_user`` says whether it would create, link or refuse, reading only, ``password_policy``
checks the sample password, and a step with one outcome takes it. Steps that need a browser
(a passkey, a code, a page to fill in) take the outcome the operator chose for them, or the
first one they route (said so). The walk stops at a step that ends the journey, at a switch to
another journey, or when it comes back to a step it passed (the user would see that page again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

import authenticators
import connectors
from authenticators.password import verify_hash
from connectors import (
    AccountBlocked,
    ExternalIdentity,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    PasswordConnector,
    UserNotFound,
)
from connectors.hashes import UserDataInvalid
from journeys.definition import Journey
from journeys.steps.legacy_password import profile_problem
from models import LegacyLink, LegacyTombstone, PasswordCredential, User
from security.password_policy import policy
from users.directory import find_by_identifier
from users.identifiers import normalise
from users.mapping import map_claims

MAX_VISITS = 64


@dataclass
class Sample:
    """What the operator gives the dry run."""

    identifier: str = ""
    password: str = ""
    connector: str = ""  # "": each legacy step asks its own connectors
    chosen: dict[str, str] = field(default_factory=dict)  # step -> outcome picked by hand


@dataclass
class Visit:
    """One step passed: what it answered and how that was decided."""

    step: str
    type: str
    outcome: str | None
    how: str  # "sample" (decided from the sample), "chosen" (by hand), "assumed" (first route)
    note: str
    target: str | None
    outcomes: tuple[str, ...]  # what the operator may choose for this step
    decides: bool  # whether the step can decide from the sample


@dataclass
class State:
    """What the walk has learned so far (the run's context, in short)."""

    sample: Sample
    identifier_kind: str = "email"
    typed: bool = False  # the sample password was "typed" on a collect page
    identity: ExternalIdentity | None = None
    user: User | None = None
    asked: list[str] = field(default_factory=list)  # connectors really asked
    profile: dict[str, Any] | None = None


@dataclass
class Walk:
    """The whole dry run."""

    visits: list[Visit]
    end: str
    asked: list[str]
    profile: dict[str, Any] | None

    @property
    def path(self) -> list[tuple[str, str]]:
        """The (step, next step) pairs walked, in order."""
        return [(visit.step, visit.target) for visit in self.visits if visit.target]


Decision = tuple[str, str] | None  # (outcome, note) or None: the sample does not tell


def _collect(step, state: State) -> Decision:
    if not state.sample.identifier:
        return None
    state.identifier_kind = getattr(step.settings, "identifier", "email")
    if not state.sample.password:
        return None
    state.typed = True
    return "submitted", _("the sample identifier and password are posted")


def _identify(step, state: State) -> Decision:
    if not state.sample.identifier:
        return None
    return "submitted", _("the sample identifier is posted")


def _identifier(state: State) -> str:
    return normalise(state.identifier_kind, state.sample.identifier)


def _local_password(step, state: State) -> Decision:
    if not (state.sample.identifier and state.typed):
        return None
    user = find_by_identifier(state.identifier_kind, _identifier(state))
    if user is None:
        return "no_credential", _("no Ferry user has this identifier")
    credential = PasswordCredential.get_or_none(PasswordCredential.user == user)
    if credential is None:
        return "no_credential", _("Ferry user %(id)s has no password", id=user.id)
    matches = verify_hash(authenticators.get("password").hasher, credential.hash,
                          state.sample.password)  # no rehash: nothing is written
    if matches and user.status == "active":
        state.user = user
        return "success", _("Ferry user %(id)s, and the password matches", id=user.id)
    if matches:
        return "failure", _("Ferry user %(id)s is %(status)s", id=user.id, status=user.status)
    return "failure", _("the password does not match Ferry user %(id)s's", id=user.id)


def _ask(connector: PasswordConnector, state: State) -> tuple[str, str]:
    identifier = _identifier(state)
    state.asked.append(connector.name)
    try:
        identity = connector.check_password(
            connector.legacy_identifier(identifier, state.sample.identifier), state.sample.password)
    except UserNotFound:
        return "not_found", _("%(name)s knows no such user", name=connector.name)
    except InvalidCredentials:
        return "wrong_credentials", _("%(name)s refused the password", name=connector.name)
    except UserDataInvalid as problem:
        return "user_data_invalid", _("%(name)s: %(reason)s", name=connector.name, reason=problem.reason)
    except LegacyUnavailable as error:
        return "unavailable", _("%(name)s could not answer: %(reason)s", name=connector.name,
                                reason=error.reason)
    except MfaRequired as challenge:
        return "mfa_required", _("%(name)s wants a second factor (%(factor)s)", name=connector.name,
                                 factor=challenge.factor)
    except AccountBlocked as blocked:
        return "blocked", _("%(name)s: the account is %(reason)s", name=connector.name,
                            reason=blocked.reason)
    problem = profile_problem(identity.subject, identity.claims, connector.mapping)
    if problem:
        return "user_data_invalid", _("%(name)s said yes, but %(problem)s", name=connector.name,
                                      problem=problem)
    state.identity = identity
    state.profile = map_claims(identity.claims, connector.mapping)
    return "success", _("%(name)s said yes: legacy user %(subject)s", name=connector.name,
                        subject=identity.subject)


def _legacy_password(step, state: State) -> Decision:
    if not (state.sample.identifier and state.typed):
        return None
    chosen = connectors.instances().get(state.sample.connector)
    if isinstance(chosen, PasswordConnector):
        candidates = [chosen]
    else:
        candidates = step.candidates(_identifier(state))
    if not candidates:
        return "unavailable", _("no password connector to ask")
    answers: list[tuple[str, str]] = []
    for connector in candidates:
        outcome, note = _ask(connector, state)
        if outcome in ("success", "mfa_required", "blocked"):
            return outcome, note
        answers.append((outcome, note))
    for verdict in ("unavailable", "user_data_invalid", "wrong_credentials", "not_found"):
        for outcome, _note in answers:
            if outcome == verdict:
                return outcome, "; ".join(n for _o, n in answers)
    return answers[-1]


def _create_user(step, state: State) -> Decision:
    identity = state.identity
    if identity is None:
        return None
    link = LegacyLink.get_or_none((LegacyLink.connector == identity.connector)
                                  & (LegacyLink.subject == identity.subject))
    if link is not None:
        return "linked", _("already migrated: Ferry user %(id)s (its profile would be refreshed)",
                           id=link.user_id)
    if LegacyTombstone.get_or_none((LegacyTombstone.connector == identity.connector)
                                   & (LegacyTombstone.subject == identity.subject)):
        return "closed", _("an operator deleted the user of this legacy account")
    profile = state.profile or {}
    email = profile.get("email")
    owner = User.get_or_none(User.email == email) if email else None
    if owner is not None:
        if step.settings.link_verified_email and profile.get("email_verified") is True:
            return "linked", _("linked to Ferry user %(id)s by its verified e-mail", id=owner.id)
        return "conflict", _("Ferry user %(id)s has this e-mail already", id=owner.id)
    username = profile.get("username")
    if username and User.get_or_none(User.username == username):
        return "conflict", _("another Ferry user has this username")
    return "created", _("a Ferry user would be created (a dry run creates nobody)")


def _password_policy(step, state: State) -> Decision:
    if not state.typed:
        return "ok", _("no password was typed on this way in")
    problems = policy().problems(state.sample.password, (state.sample.identifier,))
    if not problems:
        return "ok", _("the password passes Ferry's rules")
    broken = ", ".join(problems)
    if step.settings.mode == "accept":
        return "ok", _("the password breaks %(rules)s; accepted and flagged", rules=broken)
    return step.settings.mode, _("the password breaks %(rules)s", rules=broken)


#: The steps that can decide from the sample, by type.
DECIDERS: dict[str, Callable[[Any, State], Decision]] = {
    "collect": _collect, "identify": _identify, "local_password": _local_password,
    "legacy_password": _legacy_password, "create_user": _create_user,
    "password_policy": _password_policy,
}


def _decide(step, state: State) -> tuple[str | None, str, str]:
    """(outcome, how, note) of one step."""
    chosen = state.sample.chosen.get(step.name)
    if chosen in step.outcomes:
        return chosen, "chosen", _("chosen by hand")
    decider = DECIDERS.get(step.type)
    decided = decider(step, state) if decider else None
    if decided:
        return decided[0], "sample", decided[1]
    if len(step.outcomes) == 1:
        return step.outcomes[0], "sample", _("its only outcome")
    routed = list(step.settings.on)
    if not routed:
        return None, "assumed", ""
    return routed[0], "assumed", _("this step needs a browser: choose its outcome")


def walk(journey: Journey, sample: Sample) -> Walk:
    """Walk ``journey`` from its start with ``sample``; nothing is created or changed (a
    legacy password step does ask its connector)."""
    state, visits, seen = State(sample), [], set()
    current: str | None = journey.start
    end = ""
    while current is not None and len(visits) < MAX_VISITS:
        step = journey.step(current)
        if current in seen:
            end = _("Back at %(step)s: the user sees that page again.", step=current)
            break
        seen.add(current)
        if step.terminal:
            visits.append(Visit(current, step.type, None, "sample", "", None, (), True))
            end = (_("The journey goes on in journey %(name)s.", name=step.settings.journey)
                   if step.type == "switch" else _("The journey ends at %(step)s (%(type)s).",
                                                   step=current, type=step.type))
            break
        outcome, how, note = _decide(step, state)
        target = step.route(outcome) if outcome else None
        visits.append(Visit(current, step.type, outcome, how, note, target, tuple(step.outcomes),
                            step.type in DECIDERS or len(step.outcomes) == 1))
        if target is None:
            end = _("%(step)s has no route for %(outcome)s: the journey breaks here.",
                    step=current, outcome=outcome or "?")
            break
        current = target
    else:
        end = end or _("Stopped after %(count)s steps.", count=MAX_VISITS)
    return Walk(visits, end, state.asked, state.profile)
