"""OpenID Provider endpoints: discovery, JWKS, authorize, token, userinfo, end session."""

from __future__ import annotations

import time

from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from journeys import engine
from provider import authorization, keys
from provider.clients import SUPPORTED_SCOPES
from provider.userinfo import SUPPORTED_CLAIMS, claims_for
from security import csrf, limiter
from users import sessions

bp = Blueprint("oidc", __name__)


def _server():
    return current_app.extensions["ferry.oauth_server"]


def _external(endpoint: str) -> str:
    return current_app.config["ISSUER"] + url_for(endpoint)


@bp.get("/.well-known/openid-configuration")
def discovery():
    return jsonify(
        issuer=current_app.config["ISSUER"],
        authorization_endpoint=_external("oidc.authorize"),
        token_endpoint=_external("oidc.token"),
        userinfo_endpoint=_external("oidc.userinfo"),
        jwks_uri=_external("oidc.jwks"),
        end_session_endpoint=_external("oidc.end_session"),
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=[keys.ALGORITHM],
        scopes_supported=SUPPORTED_SCOPES,
        claims_supported=SUPPORTED_CLAIMS,
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        code_challenge_methods_supported=["S256"],
        authorization_response_iss_parameter_supported=True,
        prompt_values_supported=["none", "login"],
    )


@bp.get("/.well-known/jwks.json")
def jwks():
    response = jsonify(keys.public_jwks())
    response.cache_control.max_age = 300
    response.cache_control.public = True
    return response


@bp.get("/authorize")
def authorize():
    current = sessions.current()
    try:
        grant = authorization.validate_request()
    except OAuth2Error as error:
        if error.redirect_uri:  # the client and its redirect URI were verified
            return _server().handle_error_response(None, error)
        return render_template("errors/authorize.html", error=error), 400
    parameters = authorization.kept_parameters()
    if current is not None and _session_satisfies(current, parameters):
        return redirect(authorization.issue_code(parameters, current.user, current))
    # Sign-in needed (prompt=none was already refused by authlib when nobody is signed in).
    session["run"] = engine().start(
        grant.request.client.row.journey, client_id=grant.request.client.client_id,
        context={"authorize": parameters},
    )
    return redirect(url_for("journey.page"))


def _session_satisfies(current, parameters: dict[str, str]) -> bool:
    """Single sign-on: reuse the session unless the app asks for a fresh sign-in."""
    if "login" in parameters.get("prompt", "").split():
        return False
    max_age = parameters.get("max_age")
    if max_age is not None:
        if not max_age.isdigit() or time.time() - current.auth_time > int(max_age):
            return False
    return True


@bp.post("/token")
@csrf.exempt  # the client authenticates itself; no browser session is involved
@limiter.limit(lambda: current_app.config["TOKEN_RATE_LIMIT"])
def token():
    response = _server().create_token_response()
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    protector = current_app.extensions["ferry.resource_protector"]
    try:
        access = protector.acquire_token(["openid"])
    except OAuth2Error as error:
        return _bearer_error(error)
    return jsonify(claims_for(access.user, access.get_scope()))


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
    if end_request.needs_confirmation:
        # Without a valid id_token_hint anyone could log users out: ask them first.
        if request.method == "GET" or not _confirmed():
            return render_template("logout_confirm.html", client=end_request.client)
    response = server.create_endpoint_response("end_session", end_request)
    return response or render_template("signed_out.html")


def _confirmed() -> bool:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return request.form.get("confirm") == "yes"
