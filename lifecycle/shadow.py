"""Shadow checks: a migrated user signed in with Ferry; the legacy IDP is asked too, later.

:func:`compare` hands the password the user just typed to a small pool of background threads
(at most :data:`WORKERS`, at most :data:`PENDING` waiting; beyond that the check is skipped and
counted as ``shadow.skipped``), which ask each ``shadow`` connector through its guard (deadline,
breaker, rate limit) and audit the result: ``shadow.match``, or ``shadow.mismatch`` with
``local`` and ``legacy`` (``true``/``false``), or ``shadow.unavailable``. The password lives
only in the job's memory and is never logged. Nothing here can change or delay the sign-in.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from flask import Flask, current_app

from connectors.base import (
    AccountBlocked,
    Connector,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    UserNotFound,
)
from models import db
from security.audit import record

log = logging.getLogger(__name__)
WORKERS, PENDING = 2, 64
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="ferry-shadow")
_slots = threading.BoundedSemaphore(PENDING)
_futures: set[Future] = set()
_lock = threading.Lock()


def compare(sources: list[Connector], user_id: str, identifier: str, typed: str | None,
            password: str, local: bool) -> None:
    """Ask each shadow connector about this sign-in in the background (see the module)."""
    app = current_app._get_current_object()
    for connector in sources:
        if not _slots.acquire(blocking=False):
            record("shadow.skipped", user_id=user_id, connector=connector.name)
            continue
        sent = connector.legacy_identifier(identifier, typed)
        future = _pool.submit(_check, app, connector, user_id, sent, password, local)
        with _lock:
            _futures.add(future)
        future.add_done_callback(_finished)


def _finished(future: Future) -> None:
    _slots.release()
    with _lock:
        _futures.discard(future)


def _legacy_answer(connector: Connector, identifier: str, password: str) -> bool | None:
    try:
        connector.check_password(identifier, password)
    except (InvalidCredentials, UserNotFound, AccountBlocked):
        return False
    except MfaRequired:
        return True  # the password was right; the second factor is not the question here
    except LegacyUnavailable:
        return None
    return True


def _check(app: Flask, connector: Connector, user_id: str, identifier: str, password: str,
           local: bool) -> None:
    with app.app_context(), db.connection_context():
        try:
            legacy = _legacy_answer(connector, identifier, password)
            if legacy is None:
                record("shadow.unavailable", user_id=user_id, connector=connector.name)
            elif legacy == local:
                record("shadow.match", user_id=user_id, connector=connector.name)
            else:
                record("shadow.mismatch", user_id=user_id, connector=connector.name,
                       local=local, legacy=legacy)
        except Exception:  # noqa: BLE001 - a shadow check must never surface
            log.exception("shadow check at %s failed", connector.name)


def drain(timeout: float = 10.0) -> bool:
    """Wait for the checks under way (tests, and a graceful stop); True when none is left."""
    with _lock:
        pending = list(_futures)
    done, not_done = wait(pending, timeout=timeout)
    return not not_done
