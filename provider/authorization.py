"""What ``/authorize`` decides, and the two ends of an app's sign-in.

``/authorize`` validates the request with authlib, then :func:`decide` reads ``prompt``,
``max_age``, ``login_hint``, ``id_token_hint`` and ``acr_values`` against the browser's Ferry
session: hand out a code now, answer an error (``login_required``, ``consent_required``,
``interaction_required``), ask the user (consent, account choice), or run the app's journey.
The journey's ``complete`` step and the consent page end in :func:`finish`, which asks for
consent when it is due and otherwise mints the code (:func:`issue_code`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import current_app, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from models import User, UserSession
from provider import acr, consent
from provider.clients import Client
from provider.endpoints import hint_subject

#: Parameters of an authorization request worth keeping for the code.
KEPT_PARAMETERS = (
    "client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method", "prompt", "max_age", "login_hint", "ui_locales",
    "acr_values",
)
#: ``prompt`` values Ferry implements; ``create`` only when a ``sign-up`` journey exists.
PROMPTS = ("none", "login", "consent", "select_account", "create")
#: Request parameters Ferry refuses with the error OpenID Connect Core 6.1/6.2 names.
UNSUPPORTED = {"request": "request_not_supported", "request_uri": "request_uri_not_supported",
               "registration": "registration_not_supported"}
SIGN_UP_JOURNEY = "sign-up"
_PENDING_SALT = "ferry.pending-authorization"


def server():
    """The app's authlib authorization server."""
    return current_app.extensions["ferry.oauth_server"]


def validate_request():
    """Validate the current ``/authorize`` request; returns the authlib grant.

    Raises authlib's ``OAuth2Error``; its ``redirect_uri`` is set only when the client and
    redirect URI were verified, i.e. when it is safe to send the error back to the app.
    """
    return server().get_consent_grant(end_user=None)


def unreadable_parameter(params) -> str | None:
    """The first parameter whose value holds control characters (NUL, newlines...), or None.

    No authorization parameter may carry them, and authlib refuses to put them in an error.
    """
    for name, value in params.items(multi=True):
        if not name.isprintable() or not value.isprintable():
            return name if name.isprintable() else "?"
    return None


def kept_parameters() -> dict[str, str]:
    """The parameters of this ``/authorize`` request that the code needs later."""
    return {name: request.args[name] for name in KEPT_PARAMETERS if name in request.args}


def error_url(redirect_uri: str, error: str, description: str | None, state: str | None) -> str:
    """An error answer to the app (RFC 6749 4.1.2.1) with ``iss`` (RFC 9207)."""
    params = [("error", error)]
    if description:
        params.append(("error_description", description))
    if state:
        params.append(("state", state))
    params.append(("iss", current_app.config["ISSUER"]))
    return add_params_to_uri(redirect_uri, params)


@dataclass
class Decision:
    """What ``/authorize`` does next: one of ``code``, ``error``, ``journey``, ``choose``,
    ``no_sign_up``; with the error code, or the URL to go to."""

    action: str
    error: str | None = None
    description: str | None = None
    url: str | None = None
    journey: str | None = None
    context: dict = field(default_factory=dict)


def prompts(parameters: dict[str, str]) -> set[str]:
    """The ``prompt`` values Ferry knows (unknown values are ignored, as OpenID Connect allows)."""
    values = set(parameters.get("prompt", "").split())
    if "none" in values and len(values) > 1:
        raise InvalidRequestError("prompt=none cannot be combined with other values.")
    return values & set(PROMPTS)


def max_age(parameters: dict[str, str]) -> int | None:
    """``max_age`` in seconds, or None; anything but a non-negative integer is refused."""
    value = parameters.get("max_age")
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise InvalidRequestError("max_age must be a non-negative integer.")
    return int(value)


def check_parameters(parameters: dict[str, str], id_token_hint: str | None) -> None:
    """Refuse what Ferry does not do, before anything is decided."""
    prompts(parameters)
    max_age(parameters)
    mode = request.args.get("response_mode")
    if mode not in (None, "query"):
        raise InvalidRequestError("Only response_mode=query is supported.")
    if id_token_hint and hint_subject(id_token_hint) is None:
        raise InvalidRequestError("The id_token_hint is not an ID token issued here.")


def _hint_matches(user: User, hint: str | None) -> bool:
    if not hint:
        return True
    wanted = hint.strip().lower()
    return wanted in {(value or "").lower() for value in (user.email, user.username, user.phone)}


def session_problem(current: UserSession | None, parameters: dict[str, str],
                    id_token_hint: str | None) -> str | None:
    """Why the browser's session cannot answer this request without the user, or None."""
    if current is None:
        return "login_required"
    wanted = prompts(parameters)
    if "login" in wanted:
        return "login_required"
    limit = max_age(parameters)
    # max_age=0 is prompt=login (OpenID Connect Core errata 2); auth_time has whole seconds.
    if limit is not None and (limit == 0 or time.time() - current.auth_time > limit):
        return "login_required"
    if not _hint_matches(current.user, parameters.get("login_hint")):
        return "login_required"
    if id_token_hint and hint_subject(id_token_hint) != current.user.id:
        return "login_required"
    if not acr.satisfies(current.amr or [], parameters.get("acr_values")):
        return "interaction_required"
    return None


def decide(client: Client, parameters: dict[str, str], current: UserSession | None,
           id_token_hint: str | None) -> Decision:
    """The answer to a validated authorization request (see the module docstring)."""
    wanted = prompts(parameters)
    problem = session_problem(current, parameters, id_token_hint)
    if "none" in wanted:
        if problem:
            return Decision("error", problem, "The user must sign in.")
        if consent.needed(client, current.user, parameters):
            return Decision("error", "consent_required", "The user must allow this app first.")
        return Decision("code")
    if "create" in wanted:
        from journeys import engine

        if SIGN_UP_JOURNEY not in engine().journeys or not client.signup:
            return Decision("no_sign_up")
        return Decision("journey", journey=SIGN_UP_JOURNEY, context=_journey_context(parameters))
    if problem is None and "select_account" in wanted:
        return Decision("choose", url=url_for("oidc.choose_account", request=pending(parameters, current)))
    if problem is None:
        return Decision("code")
    return Decision("journey", journey=client.row.journey, context=_journey_context(parameters))


def _journey_context(parameters: dict[str, str]) -> dict:
    context: dict = {"authorize": parameters}
    hint = parameters.get("login_hint", "").strip()
    if hint and len(hint) <= current_app.config["MAX_FIELD_LENGTH"]:
        context["identifier"] = hint  # login_hint pre-fills the sign-in page
    return context


def finish(parameters: dict[str, str], user: User, user_session: UserSession,
           consented: bool = False) -> str:
    """The URL that ends the app's sign-in: the consent page when it is due, else the code."""
    client = server().query_client(parameters.get("client_id"))
    if not consented and consent.needed(client, user, parameters):
        return url_for("oidc.consent_page", request=pending(parameters, user_session))
    scope = consent.granted_scope(client, user, parameters, consented)
    return issue_code({**parameters, "scope": scope}, user, user_session)


def issue_code(parameters: dict[str, str], user: User, user_session: UserSession) -> str:
    """Mint a code for ``user`` and return the app's redirect URL carrying it (RFC 6749 4.1.2,
    with ``iss``, RFC 9207).

    ``parameters`` passed authlib's checks at ``/authorize`` and have been in Ferry's keeping
    since (the run, or a signed pending token), so the code is minted by the grant directly
    rather than by authlib validating the same request a second time (a fifth of a sign-in's
    framework time). Only what can have changed meanwhile is looked at again: the app may be
    gone, or its redirect URI removed; then the browser goes back to ``/authorize``, which
    explains. A replayed nonce (the code's unique index) goes back to the app as an error.
    """
    redirect_uri, state = parameters["redirect_uri"], parameters.get("state")
    authorization_server = server()
    client = authorization_server.query_client(parameters.get("client_id"))
    if client is None or not client.check_redirect_uri(redirect_uri):
        return url_for("oidc.authorize", **parameters)
    oauth_request = OAuth2Request("GET", redirect_uri)
    oauth_request.payload = BasicOAuth2Payload(dict(parameters))
    oauth_request.client, oauth_request.user = client, user
    oauth_request.ferry_session = user_session
    oauth_request.ferry_acr = acr.chosen(user_session.amr or [], parameters.get("acr_values"))
    grant = authorization_server.get_authorization_grant(oauth_request)
    code = grant.generate_authorization_code()
    try:
        grant.save_authorization_code(code, oauth_request)
    except OAuth2Error as error:
        return error_url(redirect_uri, error.error, error.description, state)
    params = [("code", code)]
    if state:
        params.append(("state", state))
    params.append(("iss", current_app.config["ISSUER"]))
    return add_params_to_uri(redirect_uri, params)


# -- a request waiting for the user (consent, account choice) ---------------------------------
def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_PENDING_SALT)


def pending(parameters: dict[str, str], user_session: UserSession) -> str:
    """A signed, short-lived token carrying the request, bound to this Ferry session."""
    return _serializer().dumps({"p": parameters, "sid": user_session.sid})


def redeem_pending(token: str | None, user_session: UserSession | None) -> dict[str, str] | None:
    """The request ``token`` carries, if it is recent and was made for this session."""
    if not token or not isinstance(token, str) or user_session is None:
        return None
    try:
        data = _serializer().loads(token, max_age=current_app.config["JOURNEY_TTL"])
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("sid") != user_session.sid:
        return None
    return data.get("p")
