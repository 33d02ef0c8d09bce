"""Ferry's rules for a password: what a new one must be, and what a legacy one is judged by.

The rules follow NIST SP 800-63B: a minimum length (``password_min_length``), a maximum far
above it (``max_field_length``), no composition rules, and no password that is known to be
common (``password_reject_common``: the 30,000 most common passwords of public breach corpora,
as shipped by the ``zxcvbn`` package, so no request leaves the server). A password that holds
the user's own e-mail address or username is refused too.

New passwords (sign-up, reset, change) must pass. A legacy password that fails is still the
user's password: the journey's ``password_policy`` step decides what happens (accept it and
flag it, ask for a new one, or ask for a passkey), never a lock-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

Problem = Literal["too_short", "too_long", "common", "like_identifier"]


@cache
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


@dataclass(frozen=True)
class PasswordPolicy:
    """The password rules of a deployment (built from its ``[ferry]`` settings)."""

    min_length: int = 8
    max_length: int = 256
    reject_common: bool = True

    @classmethod
    def from_config(cls, config: Any = None) -> PasswordPolicy:
        """The policy of the running app (or of ``config``)."""
        config = config if config is not None else current_app.config
        return cls(min_length=config["PASSWORD_MIN_LENGTH"],
                   max_length=config["MAX_FIELD_LENGTH"],
                   reject_common=config["PASSWORD_REJECT_COMMON"])

    def problems(self, password: str, identifiers: tuple[str | None, ...] = ()) -> list[Problem]:
        """What is wrong with ``password`` (empty: it passes). ``identifiers``: the user's own
        e-mail address and username, which it may not contain."""
        found: list[Problem] = []
        if len(password) < self.min_length:
            found.append("too_short")
        if len(password) > self.max_length:
            found.append("too_long")
        folded = password.casefold()
        if self.reject_common and folded in _common():
            found.append("common")
        for identifier in identifiers:
            name = (identifier or "").casefold().split("@")[0]
            if len(name) >= 4 and name in folded:
                found.append("like_identifier")
                break
        return found

    def rules(self) -> list[str]:
        """The rules in the page's language, as the password page lists them."""
        listed = [ngettext("At least %(num)d character.", "At least %(num)d characters.",
                           self.min_length)]
        if self.reject_common:
            listed.append(_("Not a common password, like password123."))
        listed.append(_("Not your e-mail address or username."))
        return listed

    def message(self, problem: Problem) -> str:
        """What the user reads about ``problem``."""
        if problem == "too_short":
            return ngettext("Use at least %(num)d character.", "Use at least %(num)d characters.",
                            self.min_length)
        if problem == "too_long":
            return ngettext("Use at most %(num)d character.", "Use at most %(num)d characters.",
                            self.max_length)
        if problem == "common":
            return _("This password is too common: it is among the first ones attackers try. "
                     "Choose another.")
        return _("Your password must not contain your e-mail address or username.")


def policy() -> PasswordPolicy:
    """The running deployment's policy."""
    return PasswordPolicy.from_config()
