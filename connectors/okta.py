"""Okta as the legacy IDP: type ``okta``, over the Authentication API or the password grant.

**Mode ``authn``** (the default) posts the user's pair to Okta's Authentication API,
``POST {org_url}/api/v1/authn``, and reads the transaction's ``status``. Setup at Okta: nothing
to register, the API is public. If Okta asks for a second factor (``MFA_REQUIRED``), Ferry asks
the user for the code on its own page and finishes the factor at Okta, so nobody who had MFA at
Okta migrates on a password alone: TOTP factors (Okta Verify's code, Google Authenticator) are
verified directly; SMS and e-mail factors are sent by Okta first. Optionally create an API token
(Security > API > Tokens, made by a read-only administrator, ideally a service account) to read
the full user profile (``email``, custom attributes) and to look users up without a password.

**Mode ``ropc``** uses the OAuth 2.0 password grant at a custom authorization server,
``{org_url}/oauth2/{authorization_server_id}/v1/token``, then its userinfo endpoint; the ID token
is verified with the server's keys (``/v1/keys``). Setup at Okta: Applications > Create App
Integration > OIDC > Native Application, tick the *Resource Owner Password* grant and give it a
client secret; in Security > API > Authorization Servers > (``default``) > Access Policies, allow
the *Resource Owner Password* grant for that app and the scopes ``openid profile email``. The
org authorization server (``{org_url}/oauth2/v1/token``) does not serve the password grant.
``ropc`` cannot finish MFA: use ``authn`` when Okta's policies ask for a second factor.

The subject is Okta's user id (``00u...``) in both modes (it is the ``sub`` Okta puts in tokens),
so switching the mode never migrates a user twice.

Settings (``[connectors.<name>]``, ``type = "okta"``):

* ``org_url``: the Okta org, ``https://acme.okta.com`` (or its custom domain); no path. ``http``
  is accepted only for loopback test servers.
* ``mode``: ``authn`` (default) or ``ropc``.
* ``api_token`` (optional, use ``"env:NAME"``): an Okta API token. With it Ferry reads
  ``GET /api/v1/users/{id}`` after each sign-in (full profile under the ``profile`` claim, and the
  ``status`` claim), tells an unknown user apart (``UserNotFound``, so a journey can try the next
  source) and offers ``lookup``.
* ``authorization_server_id`` (``ropc``; default ``default``): the custom authorization server.
* ``client_id``, ``client_secret`` (``ropc`` only; the secret with ``"env:NAME"``; without a
  secret the client is public), ``scope`` (``ropc``; default ``openid profile email``).
* ``mapping``, ``display_name``, ``connect_timeout``, ``read_timeout``, ``breaker_failures``,
  ``breaker_reset``, ``rate_limit``, ``send_identifier``: as every connector.

Claims handed to the mapping (the default mapping fits them): ``sub`` (the Okta user id),
``email`` (``profile.email``, else ``profile.login`` when it is an e-mail address),
``preferred_username`` (``profile.login``), ``given_name`` / ``family_name`` (``firstName`` /
``lastName``), ``name`` (``displayName``), ``locale`` (``en_US`` becomes ``en-US``), ``zoneinfo``
(``timeZone``), ``profile`` (Okta's profile as is: map custom attributes with
``profile.employeeNumber``) and, with an API token, ``status``. In ``ropc`` mode the claims are
the ID token's and userinfo's, plus ``profile`` and ``status`` with an API token.

Outcomes:

* ``SUCCESS`` and ``PASSWORD_WARN`` (the password is right and still valid): the identity.
* ``E0000004`` "Authentication failed" (wrong password, unknown, suspended or deactivated user;
  Okta does not tell them apart), ``invalid_grant`` in ``ropc``: :class:`InvalidCredentials`;
  :class:`UserNotFound` when the API token shows no such user.
* ``LOCKED_OUT``: blocked ``locked``; ``PASSWORD_EXPIRED``: blocked ``password_expired``.
* ``MFA_REQUIRED`` with a TOTP, SMS or e-mail factor: :class:`MfaRequired` (``totp``, ``sms``,
  ``email``); a wrong code (``E0000068``) asks again; ``E0000069`` (Okta locked the user after
  wrong codes) and ``LOCKED_OUT`` / ``PASSWORD_EXPIRED`` after the code are blocked; an expired
  transaction (``E0000011``) is unavailable without counting towards the circuit breaker.
* ``MFA_REQUIRED`` with only factors Ferry cannot ask for (push, WebAuthn, security question...),
  ``MFA_ENROLL`` (Okta wants a factor enrolled first) and the recovery statuses: blocked
  ``password_change_required``: the user must act before Okta vouches for them, and a password
  reset (which proves the mailbox) is the way out Ferry can offer. A per-user state, so it is not
  "unavailable", which would count towards the circuit breaker for everyone.
* ``429`` / ``E0000047`` (rate limit), ``E0000011`` (invalid API token), any other error code, a
  5xx, a redirect, a body that is not JSON, an unknown status or a transaction without the
  fields it needs: :class:`LegacyUnavailable`, with the reason logged for the operator. In
  ``ropc`` mode ``invalid_client`` and the like too; ``access_denied`` / ``mfa_required`` (a
  policy wants MFA for this user) is unavailable without counting towards the breaker.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator, model_validator

from connectors.base import (
    AccountBlocked,
    ConnectorSettings,
    ExternalIdentity,
    InvalidCredentials,
    LegacyUnavailable,
    MfaRequired,
    PasswordConnector,
    UserNotFound,
)
from connectors.http import LegacyHttp
from connectors.http_transport import is_loopback
from connectors.ropc import RopcConnector, RopcSettings

log = logging.getLogger(__name__)

#: Sent with every primary authentication: no optional enrollment, no warning transaction.
AUTHN_OPTIONS = {"multiOptionalFactorEnroll": False, "warnBeforePasswordExpired": False}
#: Factors Ferry can ask for on its code page, in order of preference (TOTP sends nothing).
CODE_FACTORS = {"token:software:totp": "totp", "sms": "sms", "email": "email"}
#: Statuses that say "the password may be right, but this account cannot sign in now".
BLOCKING_STATUSES = {
    "LOCKED_OUT": "locked",
    "PASSWORD_EXPIRED": "password_expired",
    "MFA_ENROLL": "password_change_required",
    "MFA_ENROLL_ACTIVATE": "password_change_required",
    "RECOVERY": "password_change_required",
    "RECOVERY_CHALLENGE": "password_change_required",
    "PASSWORD_RESET": "password_change_required",
}
#: A factor's verify link, the only URL taken from an Okta answer (and only on the org).
VERIFY_PATH = re.compile(r"/api/v1/authn/factors/[A-Za-z0-9_-]+/verify")
DEFAULT_PORTS = {"https": 443, "http": 80}


class OktaSettings(ConnectorSettings):
    org_url: str = Field(description="The Okta org, e.g. https://acme.okta.com.")
    mode: Literal["authn", "ropc"] = "authn"
    api_token: str | None = Field(None, description="Okta API token (SSWS) for profile and lookup.")
    authorization_server_id: str = Field("default", pattern=r"^[A-Za-z0-9_-]+$")
    client_id: str | None = None
    client_secret: str | None = None
    scope: str = "openid profile email"

    @field_validator("org_url")
    @classmethod
    def _org_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        host = parts.hostname or ""
        if parts.scheme not in DEFAULT_PORTS or not host:
            raise ValueError("must be an https URL like https://acme.okta.com")
        if parts.scheme == "http" and not is_loopback(host):
            raise ValueError("must use https (http is accepted only for loopback test servers)")
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError("must be the org URL alone, like https://acme.okta.com (no path)")
        if "-admin." in host:
            raise ValueError("is the admin console's URL: use the org URL, without '-admin'")
        return f"{parts.scheme}://{parts.netloc.lower()}"

    @model_validator(mode="after")
    def _mode_settings(self) -> OktaSettings:
        if self.mode == "ropc" and not self.client_id:
            raise ValueError('mode = "ropc" needs client_id (and usually client_secret)')
        if self.mode == "authn" and (self.client_id or self.client_secret):
            raise ValueError('client_id and client_secret are used only with mode = "ropc"')
        return self


class _OktaRopc(RopcConnector):
    """The ``ropc`` connector aimed at an Okta authorization server (no ``type``: not registered)."""

    def raise_for_error(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error")
        if error == "mfa_required" or (error == "access_denied" and status == 400):
            # Okta refuses the password grant when a policy wants more than a password: a
            # per-user answer, so the breaker ignores it (a few such users must not shut the
            # door for everyone).
            raise self.unavailable(
                f"Okta refused the password grant ({error}): an authorization server or sign-on "
                'policy asks for more than a password; use mode = "authn" to finish MFA',
                outage=False,
            )
        if error is None and body.get("errorCode"):
            raise self.unavailable(f"Okta answered {status} {body.get('errorCode')} "
                                   f"{body.get('errorSummary', '')!r} at the token endpoint")
        super().raise_for_error(status, body)


class OktaConnector(PasswordConnector):
    type = "okta"
    Settings = OktaSettings
    settings: OktaSettings
    supports_lookup = True

    def __init__(self, name: str, settings: OktaSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        self.http = LegacyHttp(name, self.connect_timeout, self.read_timeout, settings)
        # Looking users up needs the API token; say so per instance.
        self.supports_lookup = settings.api_token is not None  # type: ignore[misc]
        self._ropc = self._build_ropc(config) if settings.mode == "ropc" else None

    def _build_ropc(self, config: Any) -> _OktaRopc:
        server = f"{self.settings.org_url}/oauth2/{self.settings.authorization_server_id}"
        ropc = RopcSettings(
            type="ropc", token_url=f"{server}/v1/token", userinfo_url=f"{server}/v1/userinfo",
            jwks_uri=f"{server}/v1/keys", issuer=server,
            client_id=self.settings.client_id, client_secret=self.settings.client_secret,
            client_auth="basic" if self.settings.client_secret else "none",
            scope=self.settings.scope,
            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
            deadline=self.settings.deadline, ca_file=self.settings.ca_file,
            max_response_bytes=self.settings.max_response_bytes,
        )
        return _OktaRopc(self.name, ropc, config)

    # -- primary authentication ------------------------------------------------------------
    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        if self._ropc is not None:
            return self._with_api_profile(self._ropc.verify(identifier, password))
        status, body = self._call("POST", "/api/v1/authn", json={
            "username": identifier, "password": password, "options": AUTHN_OPTIONS})
        if status == 200:
            return self._transaction(body)
        if body.get("errorCode") == "E0000004":
            raise self._refused(identifier)
        raise self._error("primary authentication", status, body)

    def _transaction(self, body: dict[str, Any], after_mfa: bool = False) -> ExternalIdentity:
        status = body.get("status")
        if status in ("SUCCESS", "PASSWORD_WARN"):
            return self._identity(body)
        if status == "MFA_REQUIRED" and not after_mfa:
            raise self._second_factor(body)
        if status in BLOCKING_STATUSES:
            log.info("connector %s: Okta answered %s", self.name, status)
            raise AccountBlocked(BLOCKING_STATUSES[status])
        raise self.unavailable(f"Okta answered an unexpected transaction status {status!r}")

    def _refused(self, identifier: str) -> InvalidCredentials:
        """E0000004: with an API token, tell an unknown user apart (journeys may fall back)."""
        if self.settings.api_token:
            try:
                if self._user(identifier) is None:
                    return UserNotFound()
            except LegacyUnavailable:
                pass  # cannot tell: still a refusal, never an outage
        return InvalidCredentials()

    # -- the second factor -----------------------------------------------------------------
    def _second_factor(self, body: dict[str, Any]) -> MfaRequired | AccountBlocked:
        state_token = body.get("stateToken")
        factors = _dict(body.get("_embedded")).get("factors")
        if not isinstance(state_token, str) or not state_token or not isinstance(factors, list):
            raise self.unavailable("Okta answered MFA_REQUIRED without a stateToken or factors")
        by_type = {f.get("factorType"): f for f in reversed(factors) if isinstance(f, dict)}
        for factor_type, kind in CODE_FACTORS.items():
            if factor_type not in by_type:
                continue
            verify_url = self._verify_url(by_type[factor_type])
            if kind != "totp":  # Okta sends the code when asked: a verify without passCode
                state_token = self._send_code(verify_url, state_token)
            return MfaRequired({"state_token": state_token, "verify_url": verify_url}, kind)
        log.warning(
            "connector %s: Okta wants a second factor Ferry cannot ask for (%s); the user is "
            "told to reset the password. Ferry can ask for TOTP, SMS and e-mail factors.",
            self.name, ", ".join(sorted(str(t) for t in by_type)) or "none listed",
        )
        return AccountBlocked("password_change_required")

    def _send_code(self, verify_url: str, state_token: str) -> str:
        status, body = self._call("POST", verify_url, json={"stateToken": state_token})
        if status != 200 or body.get("status") != "MFA_CHALLENGE":
            raise self._error("sending the one-time code", status, body)
        fresh = body.get("stateToken")
        return fresh if isinstance(fresh, str) and fresh else state_token

    def _verify_url(self, factor: dict[str, Any]) -> str:
        href = _dict(_dict(factor.get("_links")).get("verify")).get("href")
        if not isinstance(href, str) or not self._on_org(href):
            raise self.unavailable(
                f"Okta's {factor.get('factorType')} factor has no verify link on {self.settings.org_url}")
        return href

    def _on_org(self, url: str) -> bool:
        """True for a factor verify link on the configured org: never follow one elsewhere."""
        org, parts = urlsplit(self.settings.org_url), urlsplit(url)
        try:
            port = parts.port or DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            return False
        return (parts.scheme == org.scheme and parts.hostname == org.hostname
                and port == (org.port or DEFAULT_PORTS[org.scheme]) and not parts.username
                and not parts.query and not parts.fragment
                and VERIFY_PATH.fullmatch(parts.path) is not None)

    def complete_mfa(self, state: dict[str, Any], code: str) -> ExternalIdentity:
        state_token, verify_url = state.get("state_token"), state.get("verify_url")
        if not isinstance(state_token, str) or not isinstance(verify_url, str):
            raise self.unavailable("the MFA state kept in the journey is incomplete")
        if not self._on_org(verify_url):
            raise self.unavailable(f"refusing an MFA verify URL that is not on {self.settings.org_url}")
        status, body = self._call("POST", verify_url, json={"stateToken": state_token, "passCode": code})
        if status == 200:
            if body.get("status") == "MFA_CHALLENGE":  # e.g. PASSCODE_REPLAYED: another code
                raise InvalidCredentials()
            return self._transaction(body, after_mfa=True)
        error = body.get("errorCode")
        if error == "E0000068":
            raise InvalidCredentials()
        if error == "E0000069":  # "User Locked": too many wrong codes at Okta
            raise AccountBlocked("locked")
        if error == "E0000011":  # this user's transaction, not an outage: the breaker ignores it
            raise self.unavailable("the Okta sign-in transaction expired (E0000011) before the "
                                   "code came", outage=False)
        raise self._error("the second factor", status, body)

    # -- the profile -----------------------------------------------------------------------
    def _identity(self, body: dict[str, Any]) -> ExternalIdentity:
        user = _dict(_dict(body.get("_embedded")).get("user"))
        subject = user.get("id")
        if not isinstance(subject, str) or not subject or not isinstance(user.get("profile"), dict):
            raise self.unavailable(
                f"Okta answered {body.get('status')} without _embedded.user id and profile")
        return self._with_api_profile(ExternalIdentity(self.name, subject, okta_claims(user)))

    def _with_api_profile(self, identity: ExternalIdentity) -> ExternalIdentity:
        """With an API token, read the whole user (custom attributes, status) after sign-in."""
        if not self.settings.api_token:
            return identity
        user = self._user(identity.subject)
        if user is None:
            raise self.unavailable("Okta signed the user in but GET /api/v1/users/{id} found nobody")
        return ExternalIdentity(self.name, identity.subject, {**identity.claims, **okta_claims(user)})

    def lookup(self, identifier: str) -> ExternalIdentity | None:
        """The Okta user by login, short name or id; None when unknown.

        Raises ``AccountBlocked("disabled")`` for a suspended or deactivated user, so that no
        journey migrates them on another proof. Needs ``api_token``.
        """
        if not self.settings.api_token:
            raise self.unavailable("lookup at Okta needs api_token in the connector settings")
        user = self._user(identifier)
        if user is None:
            return None
        if user.get("status") in ("SUSPENDED", "DEPROVISIONED"):
            raise AccountBlocked("disabled")
        return ExternalIdentity(self.name, user["id"], okta_claims(user))

    def _user(self, key: str) -> dict[str, Any] | None:
        status, body = self._call(
            "GET", f"/api/v1/users/{quote(key, safe='')}",
            headers={"Authorization": f"SSWS {self.settings.api_token}"})
        if status == 404 and body.get("errorCode") == "E0000007":  # "Not found: Resource not found"
            return None
        if status == 401 or body.get("errorCode") == "E0000011":
            raise self.unavailable("Okta refused api_token (E0000011): revoked, expired, or its "
                                   "creator was deactivated")
        if status != 200:
            raise self._error("reading the user", status, body)
        if not isinstance(body.get("id"), str) or not isinstance(body.get("profile"), dict):
            raise self.unavailable("Okta's user object has no id or profile")
        return body

    # -- HTTP --------------------------------------------------------------------------------
    def _call(self, method: str, path_or_url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """One call to the org; rate limits, 5xx and non-JSON are unavailable (so is a redirect:
        it is never followed, and no caller takes anything but its own status codes)."""
        url = path_or_url if "://" in path_or_url else self.settings.org_url + path_or_url
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        response = self.http.request(method, url, headers=headers, **kwargs)
        what = urlsplit(url).path
        if response.status_code == 429:
            raise self.unavailable(f"Okta's rate limit answered 429 (E0000047) at {what}")
        if response.status_code >= 500:
            raise self.unavailable(f"Okta answered {response.status_code} at {what}")
        return response.status_code, self.http.json(response)

    def _error(self, doing: str, status: int, body: dict[str, Any]) -> LegacyUnavailable:
        code, summary = body.get("errorCode"), body.get("errorSummary")
        if code == "E0000047":
            return self.unavailable(f"Okta's rate limit (E0000047) while {doing}")
        if code == "E0000011":
            return self.unavailable(f"Okta refused a token (E0000011) while {doing}")
        return self.unavailable(f"Okta answered {status} {code or 'without an errorCode'} "
                                f"{summary or ''!s:.120} while {doing}".rstrip())


def okta_claims(user: dict[str, Any]) -> dict[str, Any]:
    """Standard claims from an Okta user object (``_embedded.user`` or ``/api/v1/users``)."""
    profile = _dict(user.get("profile"))
    login = profile.get("login") or profile.get("username")  # older answers say "username"
    email = profile.get("email") or (login if isinstance(login, str) and "@" in login else None)
    locale = profile.get("locale")
    claims = {
        "sub": user.get("id"),
        "email": email,
        "preferred_username": login,
        "given_name": profile.get("firstName"),
        "family_name": profile.get("lastName"),
        "name": profile.get("displayName"),
        "locale": locale.replace("_", "-") if isinstance(locale, str) else None,
        "zoneinfo": profile.get("timeZone"),
        "profile": profile,
        "status": user.get("status"),
    }
    return {key: value for key, value in claims.items() if value is not None}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
