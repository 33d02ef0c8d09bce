"""Talking to the OneLogin API for the ``onelogin`` connector: access tokens, calls, answers.

Everything here goes through the connector's :class:`connectors.http.LegacyHttp` (so under the
guarded call's deadline, the size cap and verified TLS); the connector's guard (breaker, rate
limit, bulkhead) wraps the whole sign-in that makes these calls.

* :class:`TokenCache` gets and keeps one API access token per credential pair, with
  ``POST /auth/oauth2/v2/token`` (``grant_type=client_credentials``, HTTP Basic of the pair),
  until shortly before its ``expires_in`` ends. A token OneLogin refuses earlier (revoked, or
  the pair was re-created) is dropped and fetched once more, and the call is tried once again.
* :func:`status_of` reads OneLogin's ``/1`` envelope (``{"status": {"error", "code", "type",
  "message"}, "data": [...]}``) and the ``/2`` error shape (``{"statusCode", "name",
  "message"}``) the same way, so an HTTP 200 carrying an error body is read as that error.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from connectors.base import LegacyUnavailable
from connectors.http import LegacyHttp

log = logging.getLogger(__name__)

#: Seconds before ``expires_in`` ends at which a cached token is fetched anew.
TOKEN_MARGIN = 60.0
#: OneLogin's answer to a bearer token it does not accept (``/1`` APIs): fetch a new one.
TOKEN_REFUSED = "Authentication Failure"  # noqa: S105 - an error message, not a secret


@dataclass(frozen=True)
class Answer:
    """One OneLogin answer: the HTTP status, the JSON body, and its status as read."""

    http_status: int
    body: Any
    error: bool
    code: int
    type: str
    message: str


def status_of(http_status: int, body: Any) -> tuple[bool, int, str, str]:
    """``(error, code, type, message)`` of an answer, from its body where it says more."""
    if isinstance(body, dict) and isinstance(body.get("status"), dict):
        status = body["status"]
        message = status.get("message")
        if isinstance(message, dict):  # {"description": ..., "attribute": ...}
            message = message.get("description")
        code = status.get("code")
        error = status.get("error") is True or http_status >= 400
        return (error, code if isinstance(code, int) and not isinstance(code, bool) else http_status,
                str(status.get("type") or ""), str(message or ""))
    if isinstance(body, dict) and isinstance(body.get("statusCode"), int):  # the /2 error shape
        return True, body["statusCode"], str(body.get("name") or ""), str(body.get("message") or "")
    return http_status >= 400, http_status, "", ""


class TokenCache:
    """API access tokens of one connector instance, one per credential pair."""

    def __init__(self, http: LegacyHttp, base_url: str, name: str) -> None:
        self.http, self.base_url, self.name = http, base_url, name
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(self, pair: tuple[str, str], label: str) -> str:
        """A valid access token for ``pair`` (``label`` names its settings in reasons)."""
        with self._lock:
            cached = self._tokens.get(pair[0])
        if cached and cached[1] > time.monotonic():
            return cached[0]
        return self._fetch(pair, label)

    def drop(self, pair: tuple[str, str]) -> None:
        """Forget ``pair``'s token (OneLogin refused it): the next call fetches another."""
        with self._lock:
            self._tokens.pop(pair[0], None)

    def _fetch(self, pair: tuple[str, str], label: str) -> str:
        response = self.http.request(
            "POST", f"{self.base_url}/auth/oauth2/v2/token", auth=pair,
            json={"grant_type": "client_credentials"}, headers={"Accept": "application/json"},
            about=f"{self.base_url}/auth/oauth2/v2/token")
        if response.status_code == 429:
            raise self._down(f"OneLogin's rate limit answered 429 at the token endpoint "
                             f"({_reset(response.headers)})")
        if response.status_code >= 500:
            raise self._down(f"OneLogin answered {response.status_code} at the token endpoint "
                             "(it does so when the API credential's owner was deleted)")
        body = self.http.json(response)
        error, code, _, message = status_of(response.status_code, body)
        if error or response.status_code != 200:
            raise self._down(f"OneLogin refused {label} at the token endpoint ({code} "
                             f"{message[:120] or 'no message'}): check the pair and that it "
                             "is not revoked")
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise self._down("OneLogin's token answer has no access_token")
        if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = 600  # not said: keep it ten minutes (a 401 fetches a new one anyway)
        with self._lock:
            self._tokens[pair[0]] = (token, time.monotonic() + max(lifetime - TOKEN_MARGIN, 1.0))
        return token

    def _down(self, reason: str) -> LegacyUnavailable:
        log.warning("legacy IDP %s unavailable: %s", self.name, reason)
        return LegacyUnavailable(reason)


def _reset(headers: Any) -> str:
    """The rate-limit headers of a 429, said for operators (never a token)."""
    limit = headers.get("X-RateLimit-Limit") or headers.get("X-Rate-Limit-Limit") or "?"
    reset = headers.get("X-RateLimit-Reset") or headers.get("X-Rate-Limit-Reset") or "?"
    return f"limit {limit} an hour, resets in {reset} s"


class OneLoginApi:
    """Authorised calls to one OneLogin account (``base_url``) with a credential pair."""

    def __init__(self, http: LegacyHttp, base_url: str, name: str) -> None:
        self.http, self.base_url, self.name = http, base_url, name
        self.tokens = TokenCache(http, base_url, name)

    def call(self, pair: tuple[str, str], label: str, method: str, path: str,
             expect: type = dict, **kwargs: Any) -> Answer:
        """``method path`` with ``pair``'s token; a refused token is renewed once.

        Rate limits (429) and 5xx are :class:`LegacyUnavailable` here; every other answer is
        returned for the caller to read (a redirect is never followed).
        """
        answer = self._send(pair, label, method, path, expect, **kwargs)
        if answer.code == 401 and answer.message in (TOKEN_REFUSED, "Unauthorized"):
            self.tokens.drop(pair)  # expired early or revoked: one more try with a fresh one
            answer = self._send(pair, label, method, path, expect, **kwargs)
            if answer.code == 401 and answer.message in (TOKEN_REFUSED, "Unauthorized"):
                raise self.tokens._down(f"OneLogin refused the access token of {label} at "
                                        f"{path.split('?')[0]} twice ({answer.message})")
        return answer

    def _send(self, pair: tuple[str, str], label: str, method: str, path: str, expect: type,
              **kwargs: Any) -> Answer:
        token = self.tokens.token(pair, label)
        headers = {"Accept": "application/json", "Authorization": f"bearer:{token}"}
        response = self.http.request(method, self.base_url + path, headers=headers,
                                     about=self.base_url + path.split("?")[0], **kwargs)
        where = path.split("?")[0]
        if response.status_code == 429:
            raise self.tokens._down(f"OneLogin's rate limit answered 429 at {where} "
                                    f"({_reset(response.headers)})")
        if response.status_code >= 500:
            raise self.tokens._down(f"OneLogin answered {response.status_code} at {where}")
        if 300 <= response.status_code < 400:
            raise self.tokens._down(f"OneLogin answered a {response.status_code} redirect at "
                                    f"{where} (not followed): is base_url right?")
        body = self.http.json(response, expect=expect if response.status_code == 200 else dict)
        error, code, kind, message = status_of(response.status_code, body)
        return Answer(response.status_code, body, error, code, kind, message)
