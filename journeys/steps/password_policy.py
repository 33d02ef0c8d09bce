"""``password_policy``: what to do when the password just proved (a legacy one above all) fails
Ferry's rules (:mod:`security.password_policy`).

It comes after the password was checked (``local_password``'s ``success``, ``create_user``'s
``created`` and ``linked``), in the same request: a page without a password this request (a
passkey, a code, a provider) passes. ``mode`` is the journey's policy:

* ``accept`` (the default): the user goes on; the weak password is flagged in the audit trail
  (``password.policy`` with ``decision = "accepted"`` and the rules it breaks).
* ``change``: outcome ``change``; route it to a ``set_password`` step (``purpose =
  "policy"``): the user chooses a new password before going on.
* ``passkey``: outcome ``passkey``; route it to a ``register_passkey`` step with ``when =
  "required"``, whose "Choose a new password instead" leads to a ``set_password`` step, so a
  device without passkeys never locks anyone out.

Outcomes: ``ok``, ``change``, ``passkey``; the last two must be routed when the mode uses them.
"""

from __future__ import annotations

from typing import Literal

from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps.base import Step, StepSettings, ValidationContext
from lifecycle import modes
from security.audit import record
from security.password_policy import policy

_DECISIONS = {"accept": "accepted", "change": "change_required", "passkey": "passkey_required"}


class PasswordPolicySettings(StepSettings):
    mode: Literal["accept", "change", "passkey"] = "accept"


class PasswordPolicyStep(Step):
    type = "password_policy"
    Settings = PasswordPolicySettings
    settings: PasswordPolicySettings
    outcomes = ("ok", "change", "passkey")
    optional_outcomes = {"change": "ok", "passkey": "ok"}

    def check(self, context: ValidationContext) -> list[str]:
        mode = self.settings.mode
        if mode != "accept" and mode not in self.settings.on:
            return [f"on: outcome {mode!r} must be routed when mode = {mode!r}"]
        return []

    def enter(self, run) -> Result:
        user = run.user
        if user is None:
            raise JourneyBroken(f"{self.journey}.{self.name}: reached without a user")
        password = run.transient.get("password")
        if password is None:
            return Done("ok")  # nothing typed this request: a passkey, a code, a provider
        problems = policy().problems(password, (user.email, user.username))
        if not problems:
            return Done("ok")
        mode = self.settings.mode
        if modes.sync_source(user) is not None:
            mode = "accept"  # the legacy IDP keeps this password: Ferry cannot change it
        record("password.policy", user_id=user.id, client_id=run.client_id,
               decision=_DECISIONS[mode], problems=problems)
        if mode == "accept":
            return Done("ok")
        return Done(mode)
