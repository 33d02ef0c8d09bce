"""The circuit breaker of each legacy IDP: in this process, or shared by every worker and server.

A breaker counts consecutive *unavailable* answers (timeouts, deadlines, 5xx, garbage; never a
wrong password). After ``failures`` of them it opens: calls fail at once as unavailable for
``reset`` seconds, so users read "try again later" at once instead of waiting on a dead IDP, and
the IDP gets room to recover. Then it is *half-open*: exactly one call goes through as the probe,
every other call still fails fast, and the probe's answer closes the breaker (it answered) or opens
it again (it did not). A probe that never reports (its worker died) frees the way for another
after ``probe_ttl`` seconds, the probe's own deadline and a little more.

With ``ratelimit_storage_uri`` on Redis (``redis://``, ``rediss://``, ``redis+unix://``) the
state lives there, so an outage one worker saw is known to every worker and server at once (the
probe is a ``SET NX`` with an expiry; each change is one Lua script, so it is atomic). Without
Redis it lives in the process. When Redis is configured but does not answer, each process falls
back to its own state, says so once in the log (and once again when Redis answers), and tries
Redis again every :data:`REDIS_RETRY` seconds; signing in never fails because of it.

The admin portal and the metrics read a breaker with :func:`state`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import redis

log = logging.getLogger(__name__)

BreakerState = Literal["closed", "open", "half_open"]

#: Seconds between two tries of a Redis that did not answer (meanwhile: state in process).
REDIS_RETRY = 5.0
#: Seconds Ferry waits for Redis on a breaker operation before it counts as not answering.
REDIS_TIMEOUT = 0.25
#: How long Redis keeps the failure count and the "tripped" mark past ``reset`` (seconds):
#: a half-open breaker nobody calls through for this long closes by itself.
REDIS_KEEP = 600.0


@dataclass(frozen=True)
class Policy:
    """When a breaker opens and for how long: the connector's ``breaker_*`` settings."""

    failures: int
    reset: float
    probe_ttl: float


@dataclass(frozen=True)
class Admission:
    """A call the breaker let through; give it back to :meth:`Breaker.record`."""

    probe: bool = False
    token: str = ""
    shared: bool = False  # admitted by the Redis state (else: by this process's)


class Breaker(ABC):
    """One legacy IDP's breaker. Every guarded call is ``admit``, then ``record`` or ``release``."""

    def __init__(self, name: str, policy: Policy) -> None:
        self.name = name
        self.policy = policy

    @abstractmethod
    def admit(self) -> Admission | None:
        """Let a call through (an :class:`Admission`), or None: fail it fast, the breaker is open
        or another call is the half-open probe."""

    @abstractmethod
    def record(self, admission: Admission, failed: bool) -> None:
        """What the admitted call learnt: ``failed`` for an outage, else the IDP answered."""

    @abstractmethod
    def release(self, admission: Admission) -> None:
        """The admitted call never reached the IDP (no slot, rate limit): nothing was learnt."""

    @abstractmethod
    def state(self) -> BreakerState:
        """``closed``, ``open`` or ``half_open`` (the next call is, or is being, the probe)."""

    def _opened(self, failures: int) -> None:
        log.warning("legacy IDP %s failed %d times in a row: circuit breaker open for %.0f s",
                    self.name, failures, self.policy.reset)

    def _closed(self) -> None:
        log.warning("legacy IDP %s answers again: circuit breaker closed", self.name)


class InProcessBreaker(Breaker):
    """The breaker's state in this process, behind a lock."""

    def __init__(self, name: str, policy: Policy) -> None:
        super().__init__(name, policy)
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_until: float | None = None

    def admit(self) -> Admission | None:
        now = time.monotonic()
        with self._lock:
            current = self._state(now)
            if current == "closed":
                return Admission()
            if current == "open" or (self._probe_until is not None and now < self._probe_until):
                return None
            self._probe_until = now + self.policy.probe_ttl  # half-open: this call is the probe
            return Admission(probe=True)

    def record(self, admission: Admission, failed: bool) -> None:
        with self._lock:
            if admission.probe:
                self._probe_until = None
            if not failed:
                if self._opened_at is not None:
                    self._closed()
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._opened_at is not None or self._failures >= self.policy.failures:
                if self._opened_at is None:
                    self._opened(self._failures)
                self._opened_at = time.monotonic()

    def release(self, admission: Admission) -> None:
        if admission.probe:
            with self._lock:
                self._probe_until = None

    def state(self) -> BreakerState:
        with self._lock:
            return self._state(time.monotonic())

    def _state(self, now: float) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        return "half_open" if now - self._opened_at >= self.policy.reset else "open"


# KEYS: tripped, open, probe. ARGV: token, probe ms. 0 closed, 1 the probe, -1 refuse.
_ADMIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return -1
"""
# KEYS: failures, tripped, open, probe. ARGV: failures to open, reset ms, keep ms, token.
# Returns the failure count when this failure opened the breaker, else 0.
_FAILED = """
local count = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) == ARGV[4] then redis.call('DEL', KEYS[4]) end
local tripped = redis.call('EXISTS', KEYS[2])
if tripped == 1 or count >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
  if tripped == 0 then return count end
end
return 0
"""
# KEYS: failures, tripped, open, probe. Returns 1 when this answer closed a tripped breaker.
_ANSWERED = """
local tripped = redis.call('EXISTS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return tripped
"""
# KEYS: tripped, open. 0 closed, 1 open, 2 half-open.
_STATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
return 2
"""
# KEYS: probe. ARGV: token.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLink:
    """One Redis (per URI and process) and whether it answers; says once when it stops."""

    def __init__(self, uri: str) -> None:
        parts = urlsplit(uri)
        #: Where, for the log: never the URI itself, which may carry a password.
        self.where = (f"{parts.hostname}:{parts.port or 6379}{parts.path}" if parts.hostname
                      else parts.path)
        self.client = redis.Redis.from_url(uri, socket_timeout=REDIS_TIMEOUT,
                                           socket_connect_timeout=REDIS_TIMEOUT)
        self.scripts = {name: self.client.register_script(source) for name, source in (
            ("admit", _ADMIT), ("failed", _FAILED), ("answered", _ANSWERED), ("state", _STATE),
            ("release", _RELEASE))}
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._down = False

    def run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """Run one of the breaker scripts; raises :class:`redis.RedisError` when Redis fails."""
        if time.monotonic() < self._retry_at:
            raise redis.ConnectionError("not retried yet")
        try:
            result = self.scripts[script](keys=keys, args=args)
        except redis.RedisError as error:
            self._failed(error)
            raise
        if self._down:
            self._answered()
        return result

    def _failed(self, error: redis.RedisError) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + REDIS_RETRY
            if not self._down:
                self._down = True
                log.warning("Redis at %s does not answer (%s): circuit breakers are kept in each "
                            "process until it does", self.where, type(error).__name__)

    def _answered(self) -> None:
        with self._lock:
            if self._down:
                self._down = False
                log.warning("Redis at %s answers again: circuit breakers are shared again",
                            self.where)


_links: dict[str, RedisLink] = {}
_links_lock = threading.Lock()


def redis_link(uri: str) -> RedisLink:
    """The process's :class:`RedisLink` to ``uri`` (one client and one down-notice per Redis)."""
    with _links_lock:
        if uri not in _links:
            _links[uri] = RedisLink(uri)
        return _links[uri]


class RedisBreaker(Breaker):
    """The breaker's state in Redis, shared by every worker and server; in process while Redis
    does not answer."""

    def __init__(self, name: str, policy: Policy, link: RedisLink) -> None:
        super().__init__(name, policy)
        self.link = link
        self.local = InProcessBreaker(name, policy)
        prefix = f"ferry:breaker:{name}:"
        self._failures, self._tripped, self._open, self._probe = (
            prefix + part for part in ("failures", "tripped", "open", "probe"))

    def admit(self) -> Admission | None:
        token = secrets.token_hex(8)
        try:
            verdict = self.link.run("admit", [self._tripped, self._open, self._probe],
                                    [token, _ms(self.policy.probe_ttl)])
        except redis.RedisError:
            return self.local.admit()
        if verdict < 0:
            return None
        return Admission(probe=verdict == 1, token=token if verdict == 1 else "", shared=True)

    def record(self, admission: Admission, failed: bool) -> None:
        if not admission.shared:
            self.local.record(admission, failed)
            return
        keys = [self._failures, self._tripped, self._open, self._probe]
        try:
            if failed:
                opened = self.link.run("failed", keys, [
                    self.policy.failures, _ms(self.policy.reset),
                    _ms(self.policy.reset + REDIS_KEEP), admission.token])
                if opened:
                    self._opened(int(opened))
            elif self.link.run("answered", keys, []):
                self._closed()
        except redis.RedisError:
            self.local.record(Admission(), failed)

    def release(self, admission: Admission) -> None:
        if not admission.shared:
            self.local.release(admission)
        elif admission.probe:
            try:
                self.link.run("release", [self._probe], [admission.token])
            except redis.RedisError:
                pass  # the probe key expires by itself

    def state(self) -> BreakerState:
        try:
            found = self.link.run("state", [self._tripped, self._open], [])
        except redis.RedisError:
            return self.local.state()
        return ("closed", "open", "half_open")[int(found)]


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def make_breaker(name: str, policy: Policy, storage_uri: str) -> Breaker:
    """The breaker of connector ``name``: shared through Redis when ``storage_uri`` is Redis."""
    scheme = urlsplit(storage_uri).scheme
    if scheme in ("redis", "rediss"):
        return RedisBreaker(name, policy, redis_link(storage_uri))
    if scheme == "redis+unix":
        return RedisBreaker(name, policy, redis_link("unix" + storage_uri[len("redis+unix"):]))
    return InProcessBreaker(name, policy)


def state(connector: Any) -> BreakerState:
    """``closed``, ``open`` or ``half_open``: the breaker of a connector instance, as every
    worker sees it (for the admin portal and the metrics)."""
    return connector.guard.breaker.state()
