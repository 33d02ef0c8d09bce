"""``GET /metrics``: Ferry's Prometheus metrics (computed in :mod:`lifecycle.metrics`).

Who may read them: a request from a loopback address that came through no proxy (a Prometheus
or an exporter on the machine itself), or anyone sending ``Authorization: Bearer <metrics_token>``
when that setting is set. Everyone else gets 401 (a token is configured: send it) or 403 (none
is: nothing would help). "Came through no proxy": with ``trusted_proxies = 0`` any
``X-Forwarded-For``, ``Forwarded`` or ``X-Real-IP`` header means a proxy on this machine passed
the request on, and its client is unknown; with ``trusted_proxies = N`` the address is the one
ProxyFix took from ``X-Forwarded-For``, provided that header names at least N hops.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Request, Response, current_app, request

import connectors
from lifecycle import metrics

bp = Blueprint("metrics", __name__)

_PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


@bp.get("/metrics")
def scrape():
    """The exposition (text format, or OpenMetrics when asked), or 401/403."""
    refused = _refusal(request)
    if refused is not None:
        return refused
    body, content_type = metrics.render(request.headers.get("Accept"), connectors.instances())
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def _refusal(req: Request) -> Response | None:
    token = current_app.config.get("METRICS_TOKEN") or ""
    if token:
        scheme, _, presented = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(),
                                                              token.encode()):
            return None
    if _from_loopback(req, current_app.config.get("TRUSTED_PROXIES", 0)):
        return None
    if token:
        return Response("a bearer token is required\n", 401, content_type="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="ferry-metrics"'})
    return Response("/metrics answers loopback requests only (see metrics_token)\n", 403,
                    content_type="text/plain")


def _from_loopback(req: Request, trusted_proxies: int) -> bool:
    """Whether the client itself is on this machine (not a proxy here speaking for someone)."""
    forwarded_for = [hop for value in req.headers.getlist("X-Forwarded-For")
                     for hop in value.split(",") if hop.strip()]
    if trusted_proxies:
        if any(name in req.headers for name in _PROXY_HEADERS[1:]) and not forwarded_for:
            return False  # a proxy that speaks a header ProxyFix does not read
        if forwarded_for and len(forwarded_for) < trusted_proxies:
            return False  # ProxyFix left the address alone: it is a proxy's
    elif any(name in req.headers for name in _PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address((req.remote_addr or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback
