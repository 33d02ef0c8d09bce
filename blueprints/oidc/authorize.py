"""What browsers see of the provider: ``/authorize``, the consent page, the account choice."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import abort, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm

import skin
from blueprints import journey
from blueprints.oidc import bp
from journeys import engine
from provider import authorization, consent
from security import allow_form_action, csrf
from users import locale, sessions

log = logging.getLogger(__name__)


class DecisionForm(FlaskForm):
    """Only the CSRF token; the buttons carry the decision."""


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # an app's authorization request (OIDC Core 3.1.2.1 allows POST); it changes nothing
def authorize():
    params = request.values
    unreadable = authorization.unreadable_parameter(params)
    if unreadable:
        return _refuse_unreadable(params, unreadable)
    try:
        grant = authorization.validate_request()
    except OAuth2Error as error:
        return _refuse(error)
    except ValueError:
        # authlib would quote a value in its error text that the error syntax forbids (a quote or
        # a backslash in response_type, say): the request is wrong, the app gets a page.
        return render_template("errors/authorize.html", error=InvalidRequestError(
            "A parameter holds characters it may not have.")), 400
    parameters = {k: params[k] for k in authorization.KEPT_PARAMETERS if k in params}
    client = grant.request.client
    redirect_uri, state = parameters["redirect_uri"], parameters.get("state")
    for name, error in authorization.UNSUPPORTED.items():
        if name in params:
            description = f"'{name}' is not supported."
            return redirect(authorization.error_url(redirect_uri, error, description, state))
    try:
        authorization.check_parameters(parameters, params.get("id_token_hint"))
    except OAuth2Error as error:
        return redirect(authorization.error_url(redirect_uri, error.error, error.description, state))
    locale.remember(parameters.get("ui_locales"))
    current = sessions.current()
    decision = authorization.decide(client, parameters, current, params.get("id_token_hint"))
    return _answer(decision, client, parameters, current)


def _answer(decision: authorization.Decision, client, parameters: dict[str, str], current):
    """Carry out what :func:`provider.authorization.decide` said."""
    if decision.action == "error":
        return redirect(authorization.error_url(
            parameters["redirect_uri"], decision.error, decision.description, parameters.get("state")))
    if decision.action == "code":
        return redirect(authorization.finish(parameters, current.user, current))
    if decision.action == "choose":
        return redirect(decision.url)
    if decision.action == "no_sign_up":
        without = {k: v for k, v in parameters.items() if k != "prompt"}
        return render_template("errors/sign_up_unavailable.html", client=client,
                               sign_in_url=url_for("oidc.authorize") + "?" + urlencode(without)), 400
    session["run"], run = engine().begin(decision.journey, client_id=client.client_id,
                                         context=decision.context)
    return journey.first_page(run)


def _refuse_unreadable(params, name: str):
    """A parameter with control characters: back to a verified app, else a page (never echoed)."""
    safe = name.isascii() and name.isprintable() and not set(name) & {'"', "\\"}
    error = InvalidRequestError(f"The '{name}' parameter holds control characters." if safe
                                else "A parameter holds control characters.")
    client = authorization.server().query_client(params.get("client_id"))
    redirect_uri = params.get("redirect_uri", "")
    verified = client is not None and client.check_redirect_uri(redirect_uri)
    if name not in ("client_id", "redirect_uri") and verified:
        state = params.get("state") if params.get("state", "").isprintable() else None
        return redirect(authorization.error_url(redirect_uri, error.error, error.description, state))
    return render_template("errors/authorize.html", error=error), 400


def _refuse(error: OAuth2Error):
    """An invalid request: back to the app only when its client and redirect URI were verified."""
    if error.redirect_uri:
        return redirect(authorization.error_url(
            error.redirect_uri, error.error, error.description, request.values.get("state")))
    return render_template("errors/authorize.html", error=error), 400


def _pending():
    """The request waiting for this browser's signed-in user, or a clear page."""
    current = sessions.current()
    token = request.values.get("request")
    parameters = authorization.redeem_pending(token, current)
    if parameters is None:
        return None, None, None
    client = authorization.server().query_client(parameters.get("client_id"))
    if client is None:
        return None, None, None
    g.ui_locales = parameters.get("ui_locales")
    return current, parameters, client


def _waiting_page(template: str, decide, context=lambda client, parameters: {}):
    """GET shows ``template`` for the request waiting for this browser's user; a POST (with its
    CSRF token) hands the button pressed to ``decide(decision, current, parameters, client)``."""
    current, parameters, client = _pending()
    if parameters is None:
        return render_template("errors/journey_expired.html"), 400
    form = DecisionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        return decide(request.form.get("decision"), current, parameters, client)
    allow_form_action(parameters["redirect_uri"])  # every button ends at the app
    return skin.render(template, client_id=client.client_id, form=form, client=client, user=current.user,
                       token=request.values["request"], **context(client, parameters))


def _consent_decided(decision, current, parameters, client):
    if decision == "allow":
        consent.remember(client, current.user, consent.requested_scopes(client, parameters))
        return redirect(authorization.finish(parameters, current.user, current, consented=True), 303)
    return redirect(authorization.error_url(
        parameters["redirect_uri"], "access_denied", "The user did not allow it.",
        parameters.get("state")), 303)


def _account_chosen(decision, current, parameters, client):
    if decision == "continue":
        return redirect(authorization.finish(parameters, current.user, current), 303)
    # Another account: sign in afresh (the new sign-in replaces this session at the end).
    context = {"authorize": parameters}
    session["run"] = engine().start(client.row.journey, client_id=client.client_id, context=context)
    return redirect(url_for("journey.page"), 303)


@bp.route("/authorize/consent", methods=["GET", "POST"])
def consent_page():
    return _waiting_page("consent.html", _consent_decided, lambda client, parameters: {
        "scopes": consent.requested_scopes(client, parameters)})


@bp.route("/authorize/account", methods=["GET", "POST"])
def choose_account():
    return _waiting_page("choose_account.html", _account_chosen)
