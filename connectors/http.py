"""Outbound HTTP to legacy IDPs: a total deadline, a size cap, verified TLS, safe JSON.

Every connector that speaks HTTP uses :class:`LegacyHttp`, so no call can hold a worker and no
transport failure or garbage answer can be mistaken for a wrong password:

* **Deadline.** Each request runs under the deadline of the guarded call it belongs to (or, for
  a request outside one, a deadline of its own: the connector's ``deadline``). The connect, the
  TLS handshake and every read end by then, even when the legacy IDP trickles its answer a byte
  at a time (see :mod:`connectors.http_transport`); past it the call is unavailable and the
  reason names the deadline.
* **Size cap.** The body is read here, in chunks, never more than ``max_response_bytes``; a
  larger answer is unavailable before it is all in memory.
* **TLS** is always verified: against the connector's ``ca_file`` when set (the legacy IDP's own
  CA, or its self-signed certificate), else against the public CAs.
* **JSON** is parsed by :func:`parse_json` only: strict UTF-8, no ``NaN``, nesting and number
  limits; anything else is unavailable with the cause in the reason and the log.
"""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any

import requests

from connectors import deadline as deadlines
from connectors.common_settings import ConnectorSettings
from connectors.errors import LegacyUnavailable
from connectors.http_transport import DeadlineAdapter, tls_context

log = logging.getLogger(__name__)

USER_AGENT = "Ferry (just-in-time user migration)"
#: The default ``max_response_bytes`` of a connector.
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
CHUNK = 64 * 1024


def parse_json(body: bytes) -> Any:
    """The JSON value in ``body``; ValueError saying why it is none.

    JSON between systems is UTF-8 (RFC 8259): invalid UTF-8 is refused, not patched with
    replacement characters as ``requests`` would. ``NaN`` and ``Infinity`` are refused, and
    nesting too deep for the parser or integers too long are errors, not crashes.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not valid UTF-8 (byte {error.start})") from None
    try:
        return json.loads(text.removeprefix("\ufeff"), parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deep") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{error.msg} at character {error.pos}") from None
    # other ValueErrors (an integer of more than 4300 digits, NaN) carry their own words


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class LegacyHttp:
    """A ``requests`` session bound to one connector instance's timeouts and limits."""

    def __init__(self, connector_name: str, connect_timeout: float, read_timeout: float,
                 settings: ConnectorSettings | None = None) -> None:
        self.connector_name = connector_name
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = settings.deadline if settings else deadlines.DEFAULT_DEADLINE
        self.max_response_bytes = (settings.max_response_bytes if settings
                                   else DEFAULT_MAX_RESPONSE_BYTES)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = DeadlineAdapter(tls_context(settings.ca_file if settings else None))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def request(self, method: str, url: str, max_bytes: int | None = None,
                about: str | None = None, **kwargs: Any) -> requests.Response:
        """Send, and read the whole answer under the deadline and the size cap.

        The returned response's body is in memory (``content``, ``text``; use :meth:`json`).
        ``max_bytes`` replaces ``max_response_bytes`` for one request (SAML metadata); ``about``
        names the request in reasons instead of ``url``.
        """
        kwargs.setdefault("allow_redirects", False)
        kwargs.pop("stream", None)  # always streamed here, so the body is read under our rules
        about = about or url
        with deadlines.within(self.deadline) as deadline:
            if deadline.expired():
                raise self._unavailable(f"timed out: {deadline.describe()} passed before the "
                                        f"call to {about}")
            kwargs["timeout"] = (deadline.bound(self.connect_timeout),
                                 deadline.bound(self.read_timeout))
            try:
                response = self.session.request(method, url, stream=True, **kwargs)
            except requests.exceptions.RequestException as error:
                raise self._failed(about, error, deadline) from None
            try:
                response._content = self._body(response, about,
                                               max_bytes or self.max_response_bytes, deadline)
            finally:
                response.close()  # back to the pool when read in full, else closed
        return response

    def _body(self, response: requests.Response, url: str, cap: int,
              deadline: deadlines.Deadline) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise self._unavailable(f"{url} answered {response.status_code} with {declared} bytes, "
                                    f"more than max_response_bytes ({cap})")
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > cap:
                    raise self._unavailable(f"{url} answered {response.status_code} with more than "
                                            f"max_response_bytes ({cap} bytes)")
                if deadline.expired():
                    raise self._unavailable(self._late(url, deadline))
                chunks.append(chunk)
        except requests.exceptions.RequestException as error:
            raise self._failed(url, error, deadline) from None
        return b"".join(chunks)

    def json(self, response: requests.Response, expect: type = dict) -> Any:
        """The body as a JSON object (or ``expect``: ``list``), or LegacyUnavailable."""
        try:
            body = parse_json(response.content)
        except ValueError as error:
            content_type = response.headers.get("Content-Type", "none")
            raise self._unavailable(
                f"{response.url} answered {response.status_code} with {content_type}, not JSON: "
                f"{str(error)[:100]}"
            ) from None
        if not isinstance(body, expect):
            kind = "an object" if expect is dict else f"a {expect.__name__}"
            raise self._unavailable(f"{response.url} answered JSON that is not {kind}")
        return body

    def send_botocore(self, request: Any, event_name: str = "", **_: Any) -> Any:
        """A botocore ``before-send`` handler: AWS calls go through this session too.

        Register it with ``client.meta.events.register_first("before-send", http.send_botocore)``
        and botocore's (signed) request is sent here, under the deadline, the size cap and the
        TLS rules, instead of by botocore's own HTTP stack, whose read timeout restarts at
        every byte.
        """
        from botocore.awsrequest import AWSResponse

        body = request.body.encode() if isinstance(request.body, str) else request.body
        operation = event_name.rpartition(".")[2]  # before-send.<service>.<Operation>
        response = self.request(request.method, request.url, data=body,
                                headers=dict(request.headers.items()),
                                about=f"{request.url} ({operation})" if operation else None)
        return AWSResponse(request.url, response.status_code, response.headers,
                           _Read(response.content))

    def _failed(self, url: str, error: requests.RequestException,
                deadline: deadlines.Deadline) -> LegacyUnavailable:
        if deadline.expired():
            if isinstance(error, requests.exceptions.ConnectTimeout):
                return self._unavailable(f"timed out: could not connect to {url} within "
                                         f"{deadline.describe()}")
            return self._unavailable(self._late(url, deadline))
        if isinstance(error, requests.exceptions.SSLError):
            return self._unavailable(f"TLS failure talking to {url}: {_tls_cause(error)}")
        if isinstance(error, requests.exceptions.Timeout):
            return self._unavailable(f"timed out talking to {url}")
        if isinstance(error, requests.exceptions.ConnectionError):
            return self._unavailable(f"could not connect to {url}")
        return self._unavailable(f"request to {url} failed: {type(error).__name__}")

    @staticmethod
    def _late(url: str, deadline: deadlines.Deadline) -> str:
        return f"timed out: {url} did not answer in full within {deadline.describe()}"

    def _unavailable(self, reason: str) -> LegacyUnavailable:
        log.warning("legacy IDP %s unavailable: %s", self.connector_name, reason)
        return LegacyUnavailable(reason)


class _Read:
    """The ``raw`` of a botocore response whose body was read already."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_: Any) -> Any:
        yield self.content


def _tls_cause(error: BaseException) -> str:
    """What went wrong in a TLS failure, e.g. ``certificate verify failed (self-signed
    certificate)``, found in the chain of exceptions requests and urllib3 wrap around it."""
    pending, seen = [error], set()
    while pending and len(seen) < 20:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return (f"certificate verify failed ({current.verify_message}): if this is the "
                    "IDP's certificate, trust it (or its CA) with ca_file")
        if isinstance(current, ssl.SSLError) and current.reason:
            return f"{type(current).__name__} ({current.reason})"
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *getattr(current, "args", ())]
        pending.extend(link for link in linked if isinstance(link, BaseException))
    return type(error).__name__
