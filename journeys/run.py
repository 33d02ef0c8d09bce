"""A journey run: the server-side state of one sign-in in progress.

The browser holds only a random id (in the signed session); the database holds its SHA-256
with the journey, the current step, the context (JSON) and an expiry. ``transient`` values
(the password just typed) live for one request and are never written anywhere.
Named context keys: ``identifier``, ``user_id``, ``external_identity``, ``authorize`` (the app's
validated authorization request), ``notice``, ``amr``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from journeys.errors import RunMissing, StaleRun
from models import JourneyRun, User, utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Run:
    def __init__(self, model: JourneyRun) -> None:
        self.model = model
        self.context: dict[str, Any] = dict(model.context or {})
        self.transient: dict[str, Any] = {}
        self._user: User | None = None
        self._stored = self._state()

    def _state(self) -> tuple[str, str, str, str]:
        """What :func:`save` writes, as stored (the context as its JSON text: nested changes count)."""
        return (self.model.journey, self.model.step, self.model.status,
                JourneyRun.context.db_value(self.context))

    # -- state --------------------------------------------------------------------------
    @property
    def journey(self) -> str:
        return self.model.journey

    @property
    def step(self) -> str:
        return self.model.step

    @step.setter
    def step(self, name: str) -> None:
        self.model.step = name

    @property
    def client_id(self) -> str | None:
        return self.model.client_id

    @property
    def finished(self) -> bool:
        return self.model.status != "active"

    def finish(self, status: str = "finished") -> None:
        self.model.status = status

    @property
    def user(self) -> User | None:
        user_id = self.context.get("user_id")
        if user_id and (self._user is None or self._user.id != user_id):
            self._user = User.get_or_none(User.id == user_id)
        return self._user if user_id else None

    def set_user(self, user: User, *methods: str) -> None:
        """The run now knows its user; ``methods`` are RFC 8176 ``amr`` values of the proof."""
        self._user = user
        self.context["user_id"] = user.id
        known = self.context.setdefault("amr", [])
        for method in methods:
            if method not in known:
                known.append(method)

    def add_notice(self, message: str | None) -> None:
        if message:
            self.context["notice"] = message

    def pop_notice(self) -> str | None:
        return self.context.pop("notice", None)


# -- persistence --------------------------------------------------------------------------
def create(journey: str, start: str, ttl: int, client_id: str | None,
           context: dict[str, Any]) -> tuple[str, Run]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    model = JourneyRun.create(
        id_hash=_hash(token), journey=journey, step=start, context=context, client_id=client_id,
        created_at=now, updated_at=now, expires_at=now + timedelta(seconds=ttl),
    )
    return token, Run(model)


def load(token: str | None) -> Run:
    if not token or not isinstance(token, str) or len(token) > 100:
        raise RunMissing()
    model = JourneyRun.get_or_none(JourneyRun.id_hash == _hash(token))
    if model is None or model.status != "active" or model.expires_at <= utcnow():
        raise RunMissing()
    return Run(model)


def save(run: Run) -> None:
    """Write the run back; fails with StaleRun if another request saved it meanwhile.

    A request that changed nothing (showing the page the run is at) writes nothing: there is
    nothing to lose, and on SQLite every write queues for the one write lock. A run that
    another request finished meanwhile is still refused by the next request's :func:`load`.
    """
    state = run._state()
    if state == run._stored:
        return
    model = run.model
    updated = (
        JourneyRun.update(
            journey=model.journey, step=model.step, context=run.context, status=model.status,
            version=JourneyRun.version + 1, updated_at=utcnow(),
        )
        .where((JourneyRun.id_hash == model.id_hash) & (JourneyRun.version == model.version))
        .execute()
    )
    if not updated:
        raise StaleRun()
    model.version += 1
    run._stored = state
