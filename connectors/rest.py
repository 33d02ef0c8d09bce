"""A hand-written legacy endpoint that checks passwords over JSON: type ``rest``.

When the legacy user store has no standard protocol, its owners write two small endpoints and
Ferry calls them. Two request shapes are understood (``protocol``):

``protocol = "ferry"`` (the default): the Ferry contract
=========================================================

Ferry sends ``Accept: application/json`` and, when configured, ``Authorization`` (``Bearer
<bearer_token>`` or ``Basic`` with ``basic_username``/``basic_password``) and the ``headers``.
Bodies are UTF-8 JSON. Redirects are not followed. The identifier is what the user typed,
trimmed and lower-cased (``send_identifier = "as_typed"``: trimmed only); the password is
exactly what the user typed.

``POST {base_url}/verify`` with ``{"identifier": "alice@example.com", "password": "..."}``:

* ``200`` ``{"subject": "1042", "claims": {...}}``: the password is right. ``subject`` (a
  non-empty string, or an integer) identifies the user for good: never reuse it for someone
  else. ``claims`` (an object, optional) is the profile the connector's ``mapping`` reads; by
  default ``email``, ``email_verified``, ``given_name``, ``family_name``, ``name``, ``locale``.
* ``401`` ``{"error": "invalid_credentials"}``: wrong password.
* ``404`` ``{"error": "not_found"}``: no such user (a journey may then ask the next source;
  users read the same words as for a wrong password).
* ``423`` ``{"error": "locked" | "disabled" | "password_expired" | "password_change_required"}``:
  the account cannot sign in; answer it only when the password is right, unless the account is
  locked for too many attempts.

``GET {base_url}/users/{identifier}`` (the identifier percent-encoded as one path segment, so
``alice%40example.com``): ``200`` with the same body as above, ``404`` ``{"error":
"not_found"}`` or ``423`` as above. Used by journeys that prove who the user is another way (a
one-time code to the legacy e-mail address).

``GET {list_url}?limit=N`` then ``GET {list_url}?limit=N&cursor=C`` (optional, for ``ferry
roster pull``): ``200`` ``{"users": [{"subject": "1042", "claims": {...}, "last_signin_at":
"2024-05-01T09:30:00Z"}, ...], "next": "C"}``. Each user is shaped like the answer to
``/verify`` (``last_signin_at``, ISO 8601, is optional: the user's last sign-in at the legacy
side); ``next`` is an opaque cursor for the following page, ``null`` or absent after the last;
``limit`` is a hint (answer fewer if you like). Never put a password hash in ``claims``. A user
without a usable ``subject`` or with ``claims`` that is not an object is left out and logged;
any other answer is *unavailable*, and ``ferry roster pull`` stops at that page and resumes
there the next time.

Fields not listed here are ignored. Anything else (another status, a 401 or 404 without its
``error``, a body that is not a JSON object, a 200 without ``subject``, ``claims`` that is not
an object, a timeout, a TLS failure) means *legacy unavailable*: the user sees "try again
later", nothing is created or counted, and the reason is logged for the operator. That is why
the ``error`` bodies matter: a web server's own 401 or 404 page (a wrong ``bearer_token``, a
wrong ``base_url``) must never read as a wrong password. Serve it over HTTPS, never log request
bodies, and answer a wrong password and an unknown user in the same time.

``protocol = "keycloak-user-migration"``: endpoints written for the plug-in
============================================================================

The REST shapes of the widely used Keycloak user-migration plug-in (daniel-frak/
keycloak-user-migration), so endpoints already written for it work unchanged. Ferry first looks
the user up, then checks the password:

* ``GET {base_url}/{identifier}`` (percent-encoded): ``200`` with the plug-in's user JSON
  ``{"id", "username", "email", "firstName", "lastName", "enabled", "emailVerified",
  "attributes", "roles", "groups", "requiredActions"}`` (booleans may be ``true`` or
  ``"true"``); ``404`` (or ``400``/``410``): no such user. The user's ``username`` or ``email``
  must equal the identifier (case aside), as the plug-in requires; ``username`` and
  ``enabled`` are required.
* ``POST {base_url}/{identifier}`` (or ``/{id}`` with ``verify_with_id = true``, the plug-in's
  "use user id for credential verification") with ``{"password": "..."}``: ``200`` when right;
  ``400``, ``401`` or ``403`` when wrong (the plug-in reads every non-200 as wrong; Ferry reads
  a 5xx, 429 or redirect as *unavailable* instead).
* ``"enabled": false`` with the right password: blocked (``disabled``).
* The identity: ``subject`` is ``id``, or ``username`` without one; the claims are the user
  JSON plus ``sub``, ``preferred_username``, ``email_verified``, ``given_name``,
  ``family_name`` and ``name``, so the default mapping works; ``attributes.<name>`` reach the
  plug-in's attributes (lists). ``totps`` (TOTP seeds newer plug-in versions accept) are dropped,
  never kept.

Settings (``[connectors.<name>]``, ``type = "rest"``): ``base_url``; ``protocol`` (``ferry`` or
``keycloak-user-migration``); ``bearer_token`` or ``basic_username`` + ``basic_password`` (use
``"env:NAME"``); ``headers`` (more request headers, e.g. an API key); ``list_url`` (the
listing above, ``ferry`` protocol only; the same credentials are sent); ``verify_with_id``
(``keycloak-user-migration`` only); and ``mapping``, ``display_name``, timeouts, breaker,
``rate_limit``, ``send_identifier`` as every connector. Nothing secret is logged: not the
password, the token, the basic password or the header values.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

import requests
from pydantic import Field, field_validator, model_validator

from connectors.base import (
    AccountBlocked,
    ConnectorError,
    ConnectorSettings,
    ExternalIdentity,
    InvalidCredentials,
    PasswordConnector,
    UserNotFound,
)
from connectors.http import LegacyHttp, parse_json
from connectors.listing import ListedPage, ListedUser

log = logging.getLogger(__name__)

#: Statuses of the plug-in's GET that mean "no such user" (it reads every non-200 so).
KUM_NOT_FOUND = (400, 404, 410)
#: Statuses of the plug-in's POST that mean "wrong password".
KUM_REFUSED = (400, 401, 403)
#: Fields of the plug-in's user JSON that are secrets, never copied into the claims.
KUM_SECRET_FIELDS = ("totps", "password", "credentials")


class RestSettings(ConnectorSettings):
    base_url: str
    protocol: Literal["ferry", "keycloak-user-migration"] = "ferry"
    bearer_token: str | None = Field(None, min_length=1)
    basic_username: str | None = Field(None, min_length=1)
    basic_password: str | None = Field(None, min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    verify_with_id: bool = False
    list_url: str | None = None

    @field_validator("base_url", "list_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _coherent(self) -> RestSettings:
        basic = (self.basic_username, self.basic_password)
        if any(basic) and not all(basic):
            raise ValueError("basic_username and basic_password go together")
        if self.bearer_token and any(basic):
            raise ValueError("set bearer_token or basic_username/basic_password, not both")
        if (self.bearer_token or any(basic)) and "authorization" in {h.lower() for h in self.headers}:
            raise ValueError("an Authorization header in `headers` would replace bearer/basic")
        if self.verify_with_id and self.protocol != "keycloak-user-migration":
            raise ValueError('verify_with_id is only used with protocol = "keycloak-user-migration"')
        if self.list_url and self.protocol != "ferry":
            raise ValueError('list_url is only used with protocol = "ferry"')
        return self


class RestConnector(PasswordConnector):
    type = "rest"
    Settings = RestSettings
    settings: RestSettings
    supports_lookup = True

    def __init__(self, name: str, settings: RestSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        self.http = LegacyHttp(name, self.connect_timeout, self.read_timeout, settings)
        self.http.session.headers.update({"Accept": "application/json", **settings.headers})
        if settings.bearer_token:
            self.http.session.headers["Authorization"] = f"Bearer {settings.bearer_token}"
        elif settings.basic_username:
            self.http.session.auth = (settings.basic_username, settings.basic_password or "")

    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        if self.settings.protocol == "keycloak-user-migration":
            return self._plugin_verify(identifier, password)
        response = self.http.request("POST", f"{self.settings.base_url}/verify",
                                     json={"identifier": identifier, "password": password})
        if response.status_code == 200:
            return self._contract_identity(response)
        error = self._error_code(response)
        if response.status_code == 401 and error == "invalid_credentials":
            raise InvalidCredentials()
        raise self._contract_error(response, error)

    def lookup(self, identifier: str) -> ExternalIdentity | None:
        if self.settings.protocol == "keycloak-user-migration":
            user = self._plugin_user(identifier)
            if user is None:
                return None
            if not self._flag(user, "enabled"):
                raise AccountBlocked("disabled")
            return self._plugin_identity(user)
        response = self.http.request(
            "GET", f"{self.settings.base_url}/users/{quote(identifier, safe='')}")
        if response.status_code == 200:
            return self._contract_identity(response)
        error = self._error_code(response)
        if response.status_code == 404 and error == "not_found":
            return None
        raise self._contract_error(response, error)

    # -- listing users (ferry roster pull) ----------------------------------------------------
    def cannot_list(self) -> str | None:
        return None if self.settings.list_url else "set list_url (see connectors/rest.py)"

    def list_page(self, cursor: str | None, size: int) -> ListedPage:
        params = {"limit": str(size), **({"cursor": cursor} if cursor is not None else {})}
        url = self.settings.list_url or ""
        response = self.http.request("GET", f"{url}{'&' if '?' in url else '?'}{urlencode(params)}")
        if response.status_code != 200:
            hint = (": Ferry's bearer_token or basic credentials were refused"
                    if response.status_code in (401, 403) else "")
            raise self.unavailable(f"{url} answered {response.status_code} to the listing{hint}")
        body = self.http.json(response)
        users, following = body.get("users"), body.get("next")
        if not isinstance(users, list) or not (following is None or isinstance(following, str)):
            raise self.unavailable(f"{url} answered without a 'users' list and a 'next' cursor "
                                   "(text or null)")
        listed = [user for user in map(self._listed, users) if user is not None]
        return ListedPage(listed, following or None)

    def _listed(self, user: Any) -> ListedUser | None:
        subject = user.get("subject") if isinstance(user, dict) else None
        claims = user.get("claims", {}) if isinstance(user, dict) else None
        if (isinstance(subject, bool) or not isinstance(subject, str | int) or not str(subject).strip()
                or not isinstance(claims, dict)):
            log.warning("connector %s: the listing holds a user without a usable subject or "
                        "claims; not listed", self.name)
            return None
        return ListedUser.from_claims(str(subject), claims, self.mapping,
                                      last_signin_at=_instant(user.get("last_signin_at")))

    # -- the Ferry contract -----------------------------------------------------------------
    def _contract_identity(self, response: requests.Response) -> ExternalIdentity:
        body = self.http.json(response)
        subject = body.get("subject")
        if isinstance(subject, bool) or not isinstance(subject, str | int) or not str(subject).strip():
            raise self.unavailable(f"{response.url} answered 200 without a usable 'subject' "
                                   "(a non-empty string or an integer)")
        claims = body.get("claims")
        if claims is None:
            claims = {}
        if not isinstance(claims, dict):
            raise self.unavailable(f"{response.url} answered 'claims' that is not a JSON object")
        return ExternalIdentity(self.name, str(subject), claims)

    def _contract_error(self, response: requests.Response, error: str | None) -> ConnectorError:
        """What an answer other than 200 (and 401 ``invalid_credentials``) means."""
        status = response.status_code
        if status == 404 and error == "not_found":
            return UserNotFound()
        if status == 423 and error in AccountBlocked.REASONS:
            return AccountBlocked(error)
        hint = {
            401: ": Ferry's bearer_token or basic credentials were refused, or the endpoint does "
                 "not answer {\"error\": \"invalid_credentials\"}",
            403: ": Ferry's bearer_token or basic credentials were refused",
            404: ": is base_url right? (the contract's 404 carries {\"error\": \"not_found\"})",
            423: ": the contract's 423 carries one of " + ", ".join(AccountBlocked.REASONS),
        }.get(status, "")
        said = f" with error {error[:100]!r}" if error else ""
        return self.unavailable(f"{response.url} answered {status}{said}{hint}")

    @staticmethod
    def _error_code(response: requests.Response) -> str | None:
        """The ``error`` of a JSON error body, or None for anything else (HTML, empty...)."""
        try:
            body = parse_json(response.content)
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        return error if isinstance(error, str) else None

    # -- the Keycloak user-migration plug-in's shapes --------------------------------------
    def _plugin_verify(self, identifier: str, password: str) -> ExternalIdentity:
        user = self._plugin_user(identifier)
        if user is None:
            raise UserNotFound()
        target = identifier
        if self.settings.verify_with_id:
            target = user.get("id")
            if isinstance(target, bool) or not isinstance(target, str | int) or not str(target):
                raise self.unavailable("verify_with_id is on, but the user JSON has no 'id'")
        response = self.http.request("POST", f"{self.settings.base_url}/{quote(str(target), safe='')}",
                                     json={"password": password})
        if response.status_code in KUM_REFUSED:
            raise InvalidCredentials()
        if response.status_code == 404:
            raise UserNotFound()
        if response.status_code != 200:
            raise self.unavailable(f"{response.url} answered {response.status_code} to the "
                                   "password check")
        if not self._flag(user, "enabled"):
            raise AccountBlocked("disabled")  # told only to someone who knows the password
        return self._plugin_identity(user)

    def _plugin_user(self, identifier: str) -> dict[str, Any] | None:
        response = self.http.request("GET", f"{self.settings.base_url}/{quote(identifier, safe='')}")
        if response.status_code in KUM_NOT_FOUND:
            return None
        if response.status_code != 200:
            hint = (": Ferry's bearer_token or basic credentials were refused"
                    if response.status_code in (401, 403) else "")
            raise self.unavailable(f"{response.url} answered {response.status_code} to the "
                                   f"user lookup{hint}")
        user = self.http.json(response)
        username = user.get("username")
        if not isinstance(username, str) or not username:
            raise self.unavailable(f"{response.url}: the user JSON has no 'username'")
        self._flag(user, "enabled")  # required: a user JSON without it is refused now
        email = user.get("email")
        known_as = {username.casefold()} | ({email.casefold()} if isinstance(email, str) else set())
        if identifier.casefold() not in known_as:
            # As the plug-in does: an endpoint that answers with someone else is not trusted.
            log.warning("connector %s: the user lookup answered a user whose username and e-mail "
                        "differ from the identifier; treated as unknown", self.name)
            return None
        return user

    def _plugin_identity(self, user: dict[str, Any]) -> ExternalIdentity:
        user_id = user.get("id")
        has_id = not isinstance(user_id, bool) and isinstance(user_id, str | int) and str(user_id) != ""
        subject = str(user_id) if has_id else user["username"]
        claims = {k: v for k, v in user.items() if k not in KUM_SECRET_FIELDS}
        first, last = user.get("firstName"), user.get("lastName")
        derived = {
            "sub": subject,
            "preferred_username": user["username"],
            "email_verified": self._flag(user, "emailVerified", default=False),
            "given_name": first if isinstance(first, str) else None,
            "family_name": last if isinstance(last, str) else None,
            "name": " ".join(p for p in (first, last) if isinstance(p, str) and p) or None,
        }
        claims.update({k: v for k, v in derived.items() if v is not None})
        return ExternalIdentity(self.name, subject, claims)

    def _flag(self, user: dict[str, Any], key: str, default: bool | None = None) -> bool:
        """A boolean of the user JSON as Jackson reads it: true/false, "true"/"false", 1/0."""
        value = user.get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        problem = "has no" if value is None else "has an unreadable"
        raise self.unavailable(f"the user JSON {problem} {key!r} (true or false)")


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 instant of the listing, in UTC (naive, as the database keeps it), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
