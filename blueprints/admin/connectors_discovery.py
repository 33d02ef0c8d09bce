"""Portal: fetch an OpenID Provider's discovery document before adding an ``oidc`` connector.

The admin gives the issuer URL: https, or http only to localhost (the ``oidc`` connector's own
rule, :func:`connectors.oidc.presets.checked_url`); anything else is refused before any request.
Ferry fetches ``{issuer}/.well-known/openid-configuration`` with the connectors' HTTP machinery
(:class:`connectors.http.LegacyHttp`: the deployment's legacy connect and read timeouts, a total
deadline, a size cap, TLS verified, no redirects) and shows what it names: whether its
``issuer`` is exactly the one given (the connector refuses it otherwise), the endpoints, the
client authentication methods and scopes. The ``oidc`` connector reads its endpoints from this
document at run time, so "Add an oidc connector" fills in what its settings hold: the issuer,
and the client authentication the provider offers (basic before post, as the connector picks).
"""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import gettext as _

from blueprints.admin.base import bp
from connectors.base import LegacyUnavailable
from connectors.http import LegacyHttp
from connectors.oidc.presets import checked_url
from operators.sessions import require

_SHOWN = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
          "token_endpoint_auth_methods_supported", "scopes_supported", "response_modes_supported",
          "id_token_signing_alg_values_supported")


def fetch(issuer: str) -> tuple[dict | None, str | None]:
    """The discovery document of ``issuer`` and None, or None and why it could not be read."""
    try:
        checked_url(issuer, "issuer")
    except ValueError:
        return None, _("An issuer is an https URL (http only on localhost).")
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    config = current_app.config
    http = LegacyHttp("discovery", config["LEGACY_CONNECT_TIMEOUT"], config["LEGACY_READ_TIMEOUT"])
    try:
        response = http.request("GET", url, about=url)
    except LegacyUnavailable as error:
        return None, error.reason
    if response.status_code != 200:
        return None, _("%(url)s answered %(status)d.", url=url, status=response.status_code)
    try:
        document = response.json()
    except ValueError:
        return None, _("%(url)s did not answer JSON.", url=url)
    if not isinstance(document, dict):
        return None, _("%(url)s did not answer a JSON object.", url=url)
    return document, None


def prefill(issuer: str, document: dict) -> dict[str, str]:
    """The ``oidc`` settings a discovery document gives."""
    found = {"issuer": issuer}
    offered = document.get("token_endpoint_auth_methods_supported")
    if isinstance(offered, list):
        for method in ("client_secret_basic", "client_secret_post"):
            if method in offered:
                found["client_auth"] = method
                break
    return found


@bp.route("/connectors/discover", methods=["GET", "POST"])
@require()
def connector_discover():
    """Fetch and show a discovery document."""
    issuer = (request.values.get("issuer") or "").strip()
    document, problem = (fetch(issuer) if request.method == "POST" and issuer else (None, None))
    shown = [(key, document.get(key)) for key in _SHOWN] if document else []
    matches = bool(document) and document.get("issuer") == issuer
    return render_template("admin/connector_discover.html", issuer=issuer, shown=shown,
                           problem=problem, matches=matches, fetched=document is not None,
                           prefill=prefill(issuer, document) if matches and document else {})
