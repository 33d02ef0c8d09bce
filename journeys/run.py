"""A journey run: the server-side state of one sign-in in progress.

The browser holds only a random id (in the signed session); the database holds its SHA-256
with the journey, the current step, the context (JSON) and an expiry. ``transient`` values
(the password just typed) live for one request and are never written anywhere.
Named context keys: ``identifier``, ``user_id``, ``external_identity``, ``authorize`` (the app's
validated authorization request), ``notice``, ``amr``.

The id changes whenever the run learns more about who the user is (:meth:`Run.set_user`: a
password, a code, a passkey, a PIN, an IdP's answer, the Ferry session): whoever held the id
before, a copy planted in the victim's browser by an attacker say, holds a dead id from then
on (session fixation). The new id comes from the old one, the user and the ``amr`` through an
HMAC under the secret key: unguessable without the key, and the same for two requests that
proved the same thing at once (a double click), so the loser of that race can follow the
winner (:func:`successor`) and no request without that proof ever can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from typing import Any

import peewee
from flask import current_app, g, has_request_context

from journeys.errors import RunMissing, StaleRun
from models import JourneyResume, JourneyRun, OtpCode, User, db, fast, utcnow

_ROTATION = b"ferry.journey-run.rotation\0"
_COLUMNS = ("id_hash", "journey", "step", "client_id", "version", "status", "created_at",
            "updated_at", "expires_at")  # and the context, which the Run holds


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Run:
    def __init__(self, model: JourneyRun, token: str | None = None) -> None:
        self.model = model
        #: The id the browser holds (None for a run found another way: a resume reference).
        self.token = token
        self.context: dict[str, Any] = dict(model.context or {})
        self.transient: dict[str, Any] = {}
        self._user: User | None = None
        self._rotate = False
        self._stored = self._state()
        self._new = False  # made by begin(): no row yet; save() inserts it

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
        """The run now knows its user; ``methods`` are RFC 8176 ``amr`` values of the proof.

        This is the one way ``amr`` grows. The run gets a new id when it is saved, so a copy
        of the id from before the proof is worthless.
        """
        self._user = user
        self.context["user_id"] = user.id
        known = self.context.setdefault("amr", [])
        for method in methods:
            if method not in known:
                known.append(method)
        self._rotate = True

    @property
    def rotating(self) -> bool:
        """The run's assurance rose in this request: :func:`save` gives it a new id."""
        return self._rotate

    def add_notice(self, message: str | None) -> None:
        if message:
            self.context["notice"] = message

    def pop_notice(self) -> str | None:
        return self.context.pop("notice", None)


# -- persistence --------------------------------------------------------------------------
def create(journey: str, start: str, ttl: int, client_id: str | None,
           context: dict[str, Any]) -> tuple[str, Run]:
    """A new run at ``start``, stored at once; its id and the run."""
    token, run = begin(journey, start, ttl, client_id, context)
    save(run)
    return token, run


def begin(journey: str, start: str, ttl: int, client_id: str | None,
          context: dict[str, Any]) -> tuple[str, Run]:
    """A new run at ``start`` that only this request knows: :func:`save` stores it, with
    whatever its first page put in it, in one INSERT (``/authorize`` answers with that page)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    model = JourneyRun(
        id_hash=_hash(token), journey=journey, step=start, context=context, client_id=client_id,
        created_at=now, updated_at=now, expires_at=now + timedelta(seconds=ttl), version=0,
        status="active",
    )
    run = Run(model, token)
    run._new = True
    _remember_app(token, client_id)
    return token, run


def load(token: str | None) -> Run:
    if not token or not isinstance(token, str) or len(token) > 100:
        raise RunMissing()
    model = fast.get(JourneyRun, id_hash=_hash(token))
    if model is None or model.status != "active" or model.expires_at <= utcnow():
        raise RunMissing()
    _remember_app(token, model.client_id)
    return Run(model, token)


def _remember_app(token: str, client_id: str | None) -> None:
    """The app of this request's page, for ``skin.branding`` (:func:`app_of_loaded`)."""
    if has_request_context():
        g.ferry_run_app = (token, client_id)


def app_of_loaded(token: str | None) -> tuple[bool, str | None]:
    """(True, its app) when this request already loaded the run ``token``; else (False, None)."""
    loaded = g.get("ferry_run_app") if has_request_context() else None
    if loaded and token and loaded[0] == token:
        return True, loaded[1]
    return False, None


def successor(run: Run) -> str | None:
    """The id ``run`` gets when it is saved, if its assurance rose in this request.

    The same for every request that loaded the same run and proved the same user with the same
    methods; nothing else can compute it (it needs the secret key and the proof).
    """
    if not run.rotating:
        return None
    proof = json.dumps([run.model.id_hash, run.context.get("user_id"), run.context.get("amr", [])])
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, _ROTATION + proof.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def save(run: Run) -> str | None:
    """Write the run back; returns the id the browser must hold from now on (``run.token``).

    Fails with StaleRun if another request saved it meanwhile. A request that changed nothing
    (showing the page the run is at) writes nothing: there is nothing to lose, and on SQLite
    every write queues for the one write lock. A run that another request finished meanwhile
    is still refused by the next request's :func:`load`.
    """
    token = successor(run)
    if run._new:
        _insert(run, token)
        return run.token
    if token is not None:
        _rotate(run, token)
        return run.token
    state = run._state()
    if state == run._stored:
        return run.token
    model = run.model
    updated = fast.update(
        JourneyRun, {"journey": model.journey, "step": model.step, "context": run.context,
                     "status": model.status, "version": fast.Increment(), "updated_at": utcnow()},
        id_hash=model.id_hash, version=model.version)
    if not updated:
        raise StaleRun()
    model.version += 1
    run._stored = state
    return run.token


def _insert(run: Run, token: str | None) -> None:
    """Store the run :func:`begin` made (under its successor id if it already knows its user)."""
    model, state = run.model, run._state()
    if token is not None:
        model.id_hash, run.token = _hash(token), token
    fast.insert(JourneyRun, **{name: getattr(model, name) for name in _COLUMNS}, context=run.context)
    run._new, run._rotate, run._stored = False, False, state


def _rotate(run: Run, token: str) -> None:
    """Save ``run`` under its :func:`successor` id, with the version check.

    The id is a primary key that one-time codes and resume references point at. A run nothing
    points at takes its new id in place, in one UPDATE (a password or passkey sign-in); else,
    in one transaction, the run is copied under the new id, they are moved over, and the old
    row goes. Either way nothing is left that the old id could find. (A code's HMAC binds the
    id it was sent under: a code is checked before the rotation its success causes, but one
    still unchecked when another proof rotates the run no longer matches. No shipped journey
    asks for a code after another proof.)
    """
    model, state = run.model, run._state()
    old, new, now = model.id_hash, _hash(token), utcnow()
    if not _rename_alone(run, old, new, now):
        _copy_over(run, old, new, now)
    model.id_hash, model.version = new, model.version + 1
    run.token, run._rotate, run._stored = token, False, state


def _rename_alone(run: Run, old: str, new: str, now) -> bool:
    """The usual rotation in one statement: the row takes its new id in place, when nothing
    points at it (no one-time code, no resume reference; those need :func:`_copy_over`)."""
    if db.in_transaction():
        return False  # a refused statement would spoil the caller's transaction on PostgreSQL
    model = run.model
    database, sql = fast.statement(("rename run",), _rename_sql)
    try:
        return database.execute_sql(sql, (
            new, model.journey, model.step, JourneyRun.context.db_value(run.context), model.status,
            JourneyRun.updated_at.db_value(now), old, model.version, old, old)).rowcount == 1
    except peewee.IntegrityError:
        return False  # a code was stored for the old id meanwhile: copy it over instead


def _rename_sql(database, name) -> str:
    """``_rename_alone``'s UPDATE: the new id and state where the version matches and no one-time
    code or resume reference points at the old id."""
    p, run, version = database.param, JourneyRun, name(JourneyRun, "version")
    sets = ", ".join(f"{name(run, field)} = {p}"
                     for field in ("id_hash", "journey", "step", "context", "status"))
    return (f"UPDATE {name(run)} SET {sets}, {version} = {version} + 1, "  # noqa: S608
            f"{name(run, 'updated_at')} = {p} WHERE {name(run, 'id_hash')} = {p} AND {version} = {p}"
            f" AND NOT EXISTS (SELECT 1 FROM {name(OtpCode)} WHERE {name(OtpCode, 'run')} = {p})"
            f" AND NOT EXISTS (SELECT 1 FROM {name(JourneyResume)}"
            f" WHERE {name(JourneyResume, 'run')} = {p})")


def _copy_over(run: Run, old: str, new: str, now) -> None:
    model = run.model
    with db.atomic():
        claimed = fast.update(JourneyRun, {"version": fast.Increment()},
                              id_hash=old, version=model.version)
        if not claimed:
            raise StaleRun()
        fast.insert(
            JourneyRun, id_hash=new, journey=model.journey, step=model.step, context=run.context,
            client_id=model.client_id, version=model.version + 1, status=model.status,
            created_at=model.created_at, updated_at=now, expires_at=model.expires_at,
        )
        fast.update(OtpCode, {"run": new}, run=old)
        fast.update(JourneyResume, {"run": new}, run=old)
        fast.delete(JourneyRun, id_hash=old)
