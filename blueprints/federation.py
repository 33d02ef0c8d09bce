"""Where redirect IdPs send the browser back (OIDC callback, SAML ACS), and SP metadata.

The callback resumes the run its reference names, records the IdP's verdict there and hands
the browser that brought the answer a one-time secret, in a cookie of its own (the way back may
be a cross-site POST that carries no session cookie, and a URL would leak it to history and
logs). The sign-in page uses the verdict only with that secret and the run's own session
(``journeys/resume.py``): an answer that comes back in a victim's browser is no use in the
attacker's, which holds the run, nor in the victim's, which does not.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

import connectors
from connectors import RedirectConnector
from journeys import engine, resume
from journeys.errors import RunMissing, StaleRun
from security import csrf, limiter, origin_of
from security.audit import record

log = logging.getLogger(__name__)

bp = Blueprint("federation", __name__)

#: The origin each IdP's sign-in page turned out to have, from Ferry's own redirects there.
_learned: weakref.WeakKeyDictionary[RedirectConnector, str] = weakref.WeakKeyDictionary()


def _connector(name: str) -> RedirectConnector:
    found = connectors.instances().get(name)
    if not isinstance(found, RedirectConnector):
        abort(404)
    return found


@bp.route("/federate/<connector>/callback", methods=["GET", "POST"])
@csrf.exempt  # a cross-site answer: it carries its own proof (run-bound reference, signatures)
@limiter.limit(lambda: current_app.config["SIGNIN_RATE_LIMIT"])
def callback(connector: str):
    found = _connector(connector)
    params = {key: value for key, value in request.values.items()}
    try:
        run = resume.redeem(found.reference_from(params), found.name)
        secret = engine().receive(run, found.name, params)
    except (RunMissing, StaleRun):
        # A forged, replayed or late answer: nothing to resume, but the operator should see it.
        record("federation.rejected", connector=found.name,
               reason="unknown, expired or already used state")
        return render_template("errors/journey_expired.html"), 400
    response = redirect(url_for("journey.page"), code=303)
    response.set_cookie(answer_cookie(), secret, max_age=current_app.config["JOURNEY_TTL"],
                        path="/", secure=current_app.config["SESSION_COOKIE_SECURE"],
                        httponly=True, samesite="Lax")
    return response


@bp.get("/federate/<connector>/metadata")
def metadata(connector: str):
    found = _connector(connector)
    document = found.metadata()
    if document is None:
        abort(404)
    return current_app.response_class(document, mimetype="application/samlmetadata+xml")


# -- for the sign-in pages ------------------------------------------------------------------
def answer_cookie() -> str:
    """The cookie that carries an answer's one-time secret from the callback to ``/login``
    (named after the session cookie, so it is a ``__Host-`` cookie over https too)."""
    return current_app.config["SESSION_COOKIE_NAME"] + "-answer"


def carried_answer() -> str | None:
    """The secret this browser brought back from an IdP, if any."""
    return request.cookies.get(answer_cookie())


def forget_answer(response):
    """Delete the answer cookie (it is good for one try, see ``journeys/resume.py``)."""
    response.delete_cookie(answer_cookie(), path="/", httponly=True, samesite="Lax",
                           secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


def destinations(names: Iterable[str]) -> list[str]:
    """Where "Continue with ..." may send the browser, for the redirect connectors in ``names``.

    For the page's CSP ``form-action``, so known without asking the IdP (a page must not wait
    for an IdP that may be down): where Ferry's redirect went last time, and where the IdP's
    sign-in page is expected: an OIDC issuer's origin (its authorization endpoint nearly
    always shares it), a SAML IdP's SSO URL (or its metadata URL's origin until the first
    redirect tells).
    """
    found = connectors.instances()
    urls: list[str] = []
    for name in sorted(names):
        connector = found.get(name)
        if isinstance(connector, RedirectConnector):
            urls.extend(url for url in (_learned.get(connector), connector.destination()) if url)
    return urls


def learn(connector: str, url: str) -> None:
    """Ferry just sent the browser to ``connector``'s IdP at ``url``: remember its origin."""
    found = connectors.instances().get(connector)
    origin = origin_of(url)
    if isinstance(found, RedirectConnector) and origin is not None:
        _learned[found] = origin
