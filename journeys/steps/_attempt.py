"""What every password-checking step shares: one attempt per posted password, counted at once,
and exactly one hash check's worth of work whatever happens to it.

**Counting.** The first step that sees the password (``local_password``, or ``legacy_password``
in a journey without one) asks the throttle to admit the attempt; that counts it and checks the
budget in one atomic operation, so parallel requests can never get more password checks than
``failed_signins_per_identifier`` allows. A refused attempt is ``throttled`` and no password is
checked. An admitted one stays counted unless a step gives it back (:meth:`Attempt.give_back`):
the password was right, or the legacy IDP could not tell.

**Equal timing.** Whether the identifier is a migrated user, one not migrated yet, nobody, a
disabled user, or throttled, the answer must take the same time, or the timing tells who has an
account. So every attempt costs exactly one hash check: the user's argon2id hash; or, for a user
still in a ``hashes`` source, that source's own check (the legacy hash, or a decoy of the same
format for an unknown user); or, when nothing checked a hash (no local credential, a remote
legacy IDP, throttled), an argon2id check against a fixed decoy, made just before the answer
goes out; and when a remote legacy IDP accepted the password, the argon2id hash Ferry makes of
it for the new user is that one check (:func:`spent_on_new_hash`; the answer differs from a
refusal anyway). Never two. What cannot be equalised is the time a *remote* legacy IDP takes to answer:
users who have migrated never wait for it, and the rest always do.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import after_this_request, has_request_context
from flask_babel import gettext as _

import authenticators
from journeys.results import Done
from journeys.steps.messages import throttled_notice
from security.audit import record
from security.throttle import Admission, throttle

#: Failures of every password step count against one budget per identifier.
THROTTLE_SCOPE = "password"
_TRANSIENT = "password_attempt"


@dataclass
class Attempt:
    """One posted password on its way through the steps of one request."""

    identifier: str
    password: str
    admission: Admission | None  # None: the throttle refused it
    checked: bool = False  # a hash check (real or decoy) was spent on it
    returned: bool = False  # given back: no longer counted

    @property
    def admitted(self) -> bool:
        """Whether the throttle let it through to a password check (and counted it)."""
        return self.admission is not None

    def give_back(self) -> None:
        """Uncount this attempt: it was no guess (the password was right, or nobody could
        check it). Once; only for admitted attempts."""
        if self.admission is not None and not self.returned:
            throttle().give_back(THROTTLE_SCOPE, self.identifier, self.admission)
            self.returned = True

    def spend_decoy(self) -> None:
        """The one hash check of an attempt nothing else checked: argon2id against a decoy."""
        if not self.checked:
            self.checked = True
            authenticators.get("password").verify(None, self.password)

    def throttled(self, run) -> Done:
        """The answer to an attempt the budget refused (after its decoy check)."""
        self.spend_decoy()
        record("signin.throttled", client_id=run.client_id)
        return Done("throttled", throttled_notice(throttle().retry_after(THROTTLE_SCOPE,
                                                                         self.identifier)))


def password_attempt(run, missing_outcome: str, identifier: str | None = None,
                     password: str | None = None) -> Attempt | Done:
    """The attempt of this request (admitted or not), or the ``Done`` to return instead.

    The first call in a request admits the password at the throttle; later steps of the same
    request get the same :class:`Attempt`. The identifier and the password are the run's
    (``identifier`` in the context, ``password`` posted this request) unless given, as
    ``link_account`` does with the address it asks the password of.
    """
    identifier = identifier or run.context.get("identifier")
    attempt = run.transient.get(_TRANSIENT)
    if attempt is not None and attempt.identifier == identifier:
        return attempt
    password = password if password is not None else run.transient.get("password")
    if not identifier or password is None:
        # The password lives for one request only; a reload lands here.
        return Done(missing_outcome, _("Please enter your details again."))
    attempt = Attempt(identifier, password, throttle().admission(THROTTLE_SCOPE, identifier))
    run.transient[_TRANSIENT] = attempt
    if has_request_context():
        @after_this_request
        def _one_check_at_least(response):
            attempt.spend_decoy()
            return response
    return attempt


def spent_on_new_hash(run) -> None:
    """This request's password was just hashed for a credential (a migration): that argon2id
    run is the attempt's one hash check, so no decoy follows it."""
    attempt = run.transient.get(_TRANSIENT)
    if attempt is not None:
        attempt.checked = True
