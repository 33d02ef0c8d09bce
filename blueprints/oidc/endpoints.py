"""What apps call: discovery, JWKS, token, revocation, introspection, userinfo, logout."""

from __future__ import annotations

import base64
import binascii
import functools

from authlib.oauth2 import OAuth2Error
from flask import current_app, jsonify, render_template, request
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

import skin
from blueprints.oidc import bp
from provider import discovery, keys
from provider.endpoints import hint_subject
from provider.userinfo import claims_for
from security import allow_form_action, csrf, limiter
from users import sessions


def _server():
    return current_app.extensions["ferry.oauth_server"]


@bp.get("/.well-known/openid-configuration")
def discovery_document():
    return _cached_publicly(jsonify(discovery.document()))


@bp.get("/.well-known/jwks.json")
def jwks():
    return _cached_publicly(jsonify(keys.public_jwks()))


def _cached_publicly(response, seconds: int = 300):
    """Documents every app may cache for a while (they change on a rotation or a deploy)."""
    response.cache_control.max_age = seconds
    response.cache_control.public = True
    return response


def _client_error(description: str):
    response = jsonify(error="invalid_client", error_description=description)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Basic realm="ferry"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _unreadable_basic_header() -> bool:
    """An Authorization header authlib would fail on: not ``<scheme> <value>``, or Basic
    credentials that are not base64 of UTF-8 text."""
    header = request.headers.get("Authorization")
    if header is None:
        return False
    parts = header.split(None, 1)
    if " " in header and len(parts) < 2:
        return True  # a scheme without credentials, or nothing but blanks
    if not parts or parts[0].lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(parts[1].strip() if len(parts) > 1 else "", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return True
    return not decoded


def _client_endpoint(view):
    """An endpoint where apps authenticate: unreadable Basic credentials are ``invalid_client``
    (authlib would fail on them), and no answer is ever cached."""

    @functools.wraps(view)
    def guarded():
        if _unreadable_basic_header():
            return _client_error("The Authorization header is not valid Basic credentials.")
        return _no_store(view())

    return guarded


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/token")
@csrf.exempt  # the client authenticates itself; no browser session is involved
@limiter.limit(lambda: current_app.config["TOKEN_RATE_LIMIT"])
@_client_endpoint
def token():
    return _server().create_token_response()


@bp.post("/revoke")
@csrf.exempt  # the client authenticates itself (RFC 7009)
@limiter.limit(lambda: current_app.config["TOKEN_RATE_LIMIT"])
@_client_endpoint
def revoke():
    return _server().create_endpoint_response("revocation")


@bp.post("/introspect")
@csrf.exempt  # the client authenticates itself (RFC 7662)
@limiter.limit(lambda: current_app.config["TOKEN_RATE_LIMIT"])
@_client_endpoint
def introspect():
    return _server().create_endpoint_response("introspection")


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt  # bearer token in the header; no cookie is read
def userinfo():
    protector = current_app.extensions["ferry.resource_protector"]
    try:
        access = protector.acquire_token(["openid"])
    except OAuth2Error as error:
        return _bearer_error(error)
    from provider.clients import find

    client = find(access.row.client_id)
    claims = claims_for(access.user, access.get_scope(), client.scope_claims() if client else None)
    return _no_store(jsonify(claims))


def _bearer_error(error: OAuth2Error):
    status, body, headers = error()
    response = jsonify(dict(body))
    response.status_code = status
    response.headers.update(dict(headers))
    return response


@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt  # apps may POST here (RP-initiated logout); our own confirm form is checked below
def end_session():
    server = _server()
    try:
        end_request = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return render_template("errors/logout.html", error=error), 400
    current = sessions.current()
    client_id = end_request.client.client_id if end_request.client else None  # its theme
    someone_else = (end_request.id_token_claims is not None and current is not None
                    and hint_subject(request.values.get("id_token_hint")) != current.user.id)
    if end_request.needs_confirmation or someone_else:
        # Without a valid id_token_hint anyone could log users out, and a hint for another
        # user says the app is confused about who is signed in here: ask first.
        if request.method == "GET" or not _confirmed():
            if end_request.redirect_uri:
                allow_form_action(end_request.redirect_uri)  # confirming returns to the app
            return skin.render("logout_confirm.html", client_id=client_id, client=end_request.client,
                               signed_in=current.user if current else None, someone_else=someone_else)
    response = server.create_endpoint_response("end_session", end_request)
    return response or skin.render("signed_out.html", client_id=client_id)


def _confirmed() -> bool:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return request.form.get("confirm") == "yes"
