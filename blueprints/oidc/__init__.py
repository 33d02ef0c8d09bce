"""The OpenID Provider's HTTP side, one blueprint (``oidc``) in two modules.

* ``endpoints.py``: what apps call: discovery, JWKS, token, revocation, introspection, userinfo,
  RP-initiated logout.
* ``authorize.py``: what browsers see: ``/authorize``, the consent page, the account choice.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("oidc", __name__)

from blueprints.oidc import authorize, endpoints  # noqa: E402,F401  (routes register on bp)
