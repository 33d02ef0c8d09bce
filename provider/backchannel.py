"""OpenID Connect Back-Channel Logout 1.0: telling apps, server to server, that a session ended.

When a Ferry session ends (sign-out on the account page, RP-initiated logout at ``/logout``, or
a session the server ends), every app that has a ``backchannel_logout_uri`` and took part in the
session (it was issued a code or tokens of it) is sent a Logout Token (spec section 2.4)::

    POST <backchannel_logout_uri>
    Content-Type: application/x-www-form-urlencoded

    logout_token=<JWT: typ logout+jwt; iss, aud, iat, exp, jti, sub, sid, events>

Sign-out never waits for an app. The request only inserts one ``logout_delivery`` row per app
(:func:`enqueue`) and wakes this process's delivery thread, started on first need. The thread
claims each due row with one conditional UPDATE (a lease in ``claimed_until``), so servers
sharing the database deliver each notice once; rows of a server that died are picked up by any
other's next pass. An answer of 200 or 204 is a delivery (no redirect is followed); anything else
is retried after 5 s, 30 s, 2 min, 10 min and 1 h, and after the sixth attempt the notice is
abandoned (audit event ``backchannel_logout.abandoned``).

Operators: ``flask --app app backchannel status`` counts the notices, ``... backchannel deliver``
makes one delivery pass now (also fit for cron where no server runs for long).
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
import time
import weakref
from datetime import datetime, timedelta

import click
import requests
from flask import Flask, current_app
from flask.cli import AppGroup
from joserfc import jwt

from models import (
    AuthorizationCode,
    LogoutDelivery,
    OAuthClient,
    RefreshToken,
    Token,
    UserSession,
    db,
    utcnow,
)
from provider import clients, keys
from provider.clients import Client
from security.audit import record as audit
from users.sessions import session_ended

log = logging.getLogger(__name__)

#: The ``events`` member that makes a JWT a Logout Token (section 2.4).
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
JWT_TYPE = "logout+jwt"  # the typ header (section 2.4)
#: Seconds a Logout Token is valid: long enough for clock skew, short enough to be useless later.
TOKEN_TTL = 120
#: (connect, read) seconds of one POST.
TIMEOUT = (3, 5)
#: Waits after the 1st, 2nd... failed attempt; the attempt after the last wait is the final one.
BACKOFF = (timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10),
           timedelta(hours=1))
MAX_ATTEMPTS = len(BACKOFF) + 1
#: How long a claim holds a row; far longer than one POST normally takes (TIMEOUT bounds each
#: socket operation, not a peer trickling its headers), so a row is claimed again only when its
#: claimer died.
LEASE = timedelta(seconds=60)
#: Seconds between the delivery thread's passes while notices are pending, and when none is.
POLL_SECONDS = 5.0
IDLE_SECONDS = 60.0
#: How long a process that exits waits for a delivery pass in hand (> one POST, TIMEOUT).
EXIT_GRACE_SECONDS = 10.0
_BATCH = 100


def logout_token(client_id: str, subject: str, sid: str | None) -> str:
    """A signed Logout Token for app ``client_id`` about user ``subject`` and session ``sid``.

    Each attempt gets a fresh token (new ``jti``, ``iat`` and ``exp``), so a retry an hour later
    is not refused as expired. There is never a ``nonce`` (section 2.4 forbids one).
    """
    app = clients.find(client_id)  # the logout token is signed as the app's ID tokens are
    alg = app.id_token_alg if app is not None else keys.ALGORITHM
    kid, key = keys.signing_key(alg)
    issued = int(time.time())
    claims = {
        "iss": current_app.config["ISSUER"], "aud": client_id, "iat": issued,
        "exp": issued + TOKEN_TTL, "jti": secrets.token_urlsafe(24), "sub": subject,
        "events": {LOGOUT_EVENT: {}},
    }
    if sid:
        claims["sid"] = sid
    header = {"alg": alg, "kid": kid, "typ": JWT_TYPE}
    return jwt.encode(header, claims, key, algorithms=[alg])


# -- queueing, in the request that ended the session --------------------------------------------
def participants(session_id: str) -> set[str]:
    """The client_ids that were issued a code or a token within session ``session_id``.

    Tokens are asked too: codes are purged a day after they expire, a session may live longer.
    """
    query = None
    for model in (AuthorizationCode, Token, RefreshToken):
        part = model.select(model.client).where(model.session_id == session_id)
        query = part if query is None else query | part  # UNION: one round trip, no duplicates
    return {client_id for (client_id,) in query.tuples()}


def enqueue(session: UserSession) -> int:
    """Queue one notice per app to tell that ``session`` ended; how many were queued."""
    client_ids = participants(session.id_hash)
    if not client_ids:
        return 0
    rows = OAuthClient.select().where(OAuthClient.client_id.in_(sorted(client_ids)))
    now = utcnow()
    notices = [
        {"client": row.client_id, "subject": session.user_id, "sid": session.sid, "created_at": now,
         "attempts": 0, "next_attempt_at": now}
        for row in rows if Client(row).setting("backchannel_logout_uri", None)
    ]
    if notices:
        LogoutDelivery.insert_many(notices).execute()
    return len(notices)


def _session_ended(sender: Flask, record: UserSession, **_extra: object) -> None:
    """``users.sessions.session_ended`` receiver (connected for one app, the sender).

    The session is already over: a failure to queue is logged, never turned into a failed
    sign-out page.
    """
    try:
        queued = enqueue(record)
    except Exception:
        log.exception("back-channel logout: could not queue the notices of an ended session")
        return
    if queued:
        _worker.wake(sender)


# -- delivering ----------------------------------------------------------------------------------
def _unfinished():
    return LogoutDelivery.delivered_at.is_null() & LogoutDelivery.abandoned_at.is_null()


def _due(now: datetime):
    return (_unfinished() & (LogoutDelivery.next_attempt_at <= now)
            & (LogoutDelivery.claimed_until.is_null() | (LogoutDelivery.claimed_until <= now)))


def deliver_due(now: datetime | None = None) -> int:
    """Make one delivery attempt for every notice due at ``now``; how many were delivered.

    Call it inside an app context with a database connection open. ``now`` (naive UTC) fixes the
    clock that decides what is due, leases and when retries fall (tests pass a future time); by
    default each row reads the clock afresh, so a long pass never claims with a stale lease.
    Tokens always carry the real time. Several callers at once (threads, servers) are safe:
    each row is claimed by one of them.
    """
    clock = (lambda: now) if now is not None else utcnow
    delivered, after = 0, 0
    while True:  # in id order, from where the last batch ended: each row once per pass
        batch = [row_id for (row_id,) in LogoutDelivery.select(LogoutDelivery.id)
                 .where(_due(clock()) & (LogoutDelivery.id > after))
                 .order_by(LogoutDelivery.id).limit(_BATCH).tuples()]
        if not batch:
            return delivered
        for row_id in batch:
            moment = clock()
            attempt = _claim(row_id, moment)
            if attempt:
                delivered += _attempt(row_id, attempt, moment)
        after = batch[-1]


def _claim(row_id: int, now: datetime) -> int:
    """Claim row ``row_id`` with one conditional UPDATE; the attempt number, or 0 (not ours)."""
    claimed = LogoutDelivery.update(
        claimed_until=now + LEASE, attempts=LogoutDelivery.attempts + 1,
    ).where((LogoutDelivery.id == row_id) & _due(now)).execute()
    if not claimed:
        return 0
    return LogoutDelivery.select(LogoutDelivery.attempts).where(LogoutDelivery.id == row_id).scalar()


def _attempt(row_id: int, attempt: int, now: datetime) -> bool:
    """POST the notice of row ``row_id`` once and record the outcome; whether it was delivered."""
    row = LogoutDelivery.select(LogoutDelivery, OAuthClient).join(OAuthClient).where(
        LogoutDelivery.id == row_id).first()
    if row is None:  # the app was deleted (and its notices with it) since the claim
        return False
    uri = Client(row.client).setting("backchannel_logout_uri", None)
    if not uri:
        return _finish(row, attempt, now, error="the app no longer has a backchannel_logout_uri",
                       final=True)
    try:
        token = logout_token(row.client_id, row.subject, row.sid)
        with requests.post(uri, data={"logout_token": token}, timeout=TIMEOUT, allow_redirects=False,
                           stream=True) as response:  # stream: the body is never read
            status = response.status_code
    except requests.RequestException as error:
        return _finish(row, attempt, now, error=f"{type(error).__name__}: {error}")
    except Exception as error:  # a key or database problem: retried like a network error
        log.exception("back-channel logout to %s failed before an answer", row.client_id)
        return _finish(row, attempt, now, error=f"{type(error).__name__}: {error}")
    if status in (200, 204):  # 204: what some frameworks send for an empty 200 (section 2.8)
        return _finish(row, attempt, now)
    return _finish(row, attempt, now, error=f"HTTP {status}")


def _finish(row: LogoutDelivery, attempt: int, now: datetime, error: str | None = None,
            final: bool = False) -> bool:
    """Record one attempt's outcome, if the row is still ours (a later claim bumped attempts)."""
    mine = (LogoutDelivery.id == row.id) & (LogoutDelivery.attempts == attempt)
    if error is None:
        LogoutDelivery.update(delivered_at=now, claimed_until=None, last_error=None).where(
            mine).execute()
        log.info("back-channel logout delivered to %s (attempt %d)", row.client_id, attempt)
        return True
    error = error[:300]
    if final or attempt >= MAX_ATTEMPTS:
        abandoned = LogoutDelivery.update(abandoned_at=now, claimed_until=None,
                                          last_error=error).where(mine).execute()
        if abandoned:
            log.warning("back-channel logout to %s abandoned after %d attempts: %s",
                        row.client_id, attempt, error)
            audit("backchannel_logout.abandoned", user_id=row.subject, client_id=row.client_id,
                  attempts=attempt, error=error)
        return False
    LogoutDelivery.update(next_attempt_at=now + BACKOFF[attempt - 1], claimed_until=None,
                          last_error=error).where(mine).execute()
    log.warning("back-channel logout to %s failed (attempt %d), will retry: %s",
                row.client_id, attempt, error)
    return False


# -- the delivery thread of this process -----------------------------------------------------
class _Worker:
    """A daemon thread, started on first need, woken by an Event and every few seconds."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._app: weakref.ref[Flask] | None = None
        self._database: object = None

    def wake(self, app: Flask) -> None:
        """Deliver soon for ``app`` (and the database it is bound to); start the thread if needed."""
        with self._changed:
            self._app, self._database = weakref.ref(app), db.obj
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ferry-backchannel-logout",
                                                daemon=True)
                self._thread.start()
            self._wake.set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no wake-up is outstanding and no pass is running; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._busy and not self._wake.is_set(), timeout)

    def _run(self) -> None:
        wait: float | None = None
        while True:
            self._wake.wait(wait)
            with self._changed:
                self._wake.clear()
                self._busy = True
                app = self._app() if self._app else None
                database = self._database
            pending = False
            try:
                pending = self._pass(app, database)
            except Exception:  # the thread must outlive any failure: log, and try again later
                log.exception("back-channel logout: a delivery pass failed")
                pending = True
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
            wait = POLL_SECONDS if pending else IDLE_SECONDS

    @staticmethod
    def _pass(app: Flask | None, database: object) -> bool:
        """One pass on a connection of its own; whether notices remain unfinished."""
        if app is None or db.obj is not database:
            return False  # that app is gone, or the process moved to another database (tests)
        with app.app_context(), db.connection_context():
            deliver_due()
            return LogoutDelivery.select().where(_unfinished()).exists()


_worker = _Worker()


def _forget_worker_after_fork() -> None:
    """A forked child has no delivery thread (and must not share the parent's locks)."""
    global _worker
    _worker = _Worker()


os.register_at_fork(after_in_child=_forget_worker_after_fork)


def wait_idle(timeout: float = 10.0) -> bool:
    """Wait until this process's delivery thread has nothing in hand (for tests); False on timeout."""
    return _worker.wait_idle(timeout)


# -- wiring --------------------------------------------------------------------------------------
def _drain_at_exit() -> None:
    """Let a pass in hand finish (a CLI that ended sessions, a server shutting down), briefly."""
    _worker.wait_idle(EXIT_GRACE_SECONDS)


atexit.register(_drain_at_exit)


def init_app(app: Flask) -> None:
    """Listen for this app's ended sessions, resume notices left pending, add the CLI group."""
    session_ended.connect(_session_ended, sender=app)  # weakly: gone with the app
    resumed = threading.Event()

    @app.before_request
    def _resume_pending() -> None:
        # Once per process: notices left by a server that died (or a CLI) wake this one's thread.
        if resumed.is_set():
            return
        resumed.set()
        if LogoutDelivery.select().where(_unfinished()).exists():
            _worker.wake(app)

    group = AppGroup("backchannel", help="Back-channel logout notices to apps.")  # app context: ISSUER

    @group.command("status")
    def status() -> None:
        """Count pending, delivered and abandoned notices; show the last abandoned ones."""
        with db.connection_context():
            pending = LogoutDelivery.select().where(_unfinished()).count()
            delivered = LogoutDelivery.select().where(LogoutDelivery.delivered_at.is_null(False)).count()
            abandoned = (LogoutDelivery.select().where(LogoutDelivery.abandoned_at.is_null(False))
                         .order_by(LogoutDelivery.abandoned_at.desc()))
            click.echo(f"pending: {pending}, delivered: {delivered}, abandoned: {abandoned.count()}")
            for row in abandoned.limit(10):
                click.echo(f"  {row.abandoned_at:%Y-%m-%d %H:%M:%S} {row.client_id}: {row.last_error}")

    @group.command("deliver")
    def deliver() -> None:
        """Make one delivery attempt for every notice due now."""
        with db.connection_context():
            delivered = deliver_due()
        click.echo(f"delivered {delivered}")

    app.cli.add_command(group)
