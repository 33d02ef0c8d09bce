"""Outbound HTTP to legacy IDPs: timeouts on every call, failures mapped to LegacyUnavailable.

Every connector that speaks HTTP uses :class:`LegacyHttp`, so no call can hang a worker and no
transport failure can be mistaken for a wrong password.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from connectors.base import LegacyUnavailable

log = logging.getLogger(__name__)

USER_AGENT = "Ferry (just-in-time user migration)"


class LegacyHttp:
    """A ``requests`` session bound to one connector instance's timeouts."""

    def __init__(self, connector_name: str, connect_timeout: float, read_timeout: float) -> None:
        self.connector_name = connector_name
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        try:
            return self.session.request(method, url, **kwargs)
        except requests.exceptions.SSLError as error:
            raise self._unavailable(f"TLS failure talking to {url}: {type(error).__name__}") from None
        except requests.exceptions.Timeout:
            raise self._unavailable(f"timed out talking to {url}") from None
        except requests.exceptions.ConnectionError:
            raise self._unavailable(f"could not connect to {url}") from None
        except requests.exceptions.RequestException as error:
            raise self._unavailable(f"request to {url} failed: {type(error).__name__}") from None

    def json(self, response: requests.Response) -> dict[str, Any]:
        """The body as a JSON object, or LegacyUnavailable when it is anything else."""
        try:
            body = response.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to parse
            content_type = response.headers.get("Content-Type", "none")
            raise self._unavailable(
                f"{response.url} answered {response.status_code} with {content_type}, not JSON"
            ) from None
        if not isinstance(body, dict):
            raise self._unavailable(f"{response.url} answered JSON that is not an object")
        return body

    def _unavailable(self, reason: str) -> LegacyUnavailable:
        log.warning("legacy IDP %s unavailable: %s", self.connector_name, reason)
        return LegacyUnavailable(reason)
