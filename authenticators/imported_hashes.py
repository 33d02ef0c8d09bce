"""Legacy password hashes imported in bulk (``ferry users import``), checked at first sign-in.

An imported user's :class:`~models.PasswordCredential` keeps the legacy hash exactly as the
export held it, in a PHC-like string that names the ``hashes`` connector whose settings (its
``schemes``, Firebase parameters, ``salted_sha`` description) verify it::

    $ferry-legacy$<connector>$<salt>$<the stored hash, untouched>

``<salt>`` is ``-`` for the formats that keep no salt apart, else ``t:`` (a text salt) or ``b:``
(a binary one, from a SQL column) and the salt in base64. The hash goes last, since it may hold
``$`` itself. No schema change: the string fits ``PasswordCredential.hash``.

:func:`verify` checks a password with that connector's :class:`~connectors.hashes.schemes.
HashVerifier`: the very check lazy migration makes, at the same cost for a right and a wrong
password. On a match :class:`~authenticators.password.PasswordAuthenticator` replaces the
credential with an argon2id hash of the password, as it does for a rehash.

A connector that no longer exists, is disabled (``enabled = false``) or is no longer of type
``hashes``, and a hash its settings can no longer use (a format taken out of ``schemes``...):
no match, after an argon2id decoy check, so it reads and costs like a wrong password. It is
logged once per connector and reason (never the hash), for the operator to fix; never an error
page.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Callable

from flask import current_app

from connectors.hashes import HashesConnector
from connectors.hashes.problems import HashProblem
from connectors.hashes.schemes import HashVerifier, Stored

log = logging.getLogger(__name__)

PREFIX = "$ferry-legacy$"
_NO_SALT = "-"
_LOGGED_KEY = "ferry.imported_hashes.logged"
_logged_lock = threading.Lock()


def is_imported(phc: str) -> bool:
    """Whether ``phc`` is an imported legacy hash rather than one of Ferry's own."""
    return phc.startswith(PREFIX)


def wrap(connector: str, stored: Stored) -> str:
    """The credential string for ``stored``, verified later with ``connector``'s settings."""
    if not connector or "$" in connector:
        raise ValueError("a connector name without '$' is needed")
    if stored.salt is None:
        salt = _NO_SALT
    elif isinstance(stored.salt, bytes):
        salt = "b:" + base64.b64encode(stored.salt).decode("ascii")
    else:
        salt = "t:" + base64.b64encode(stored.salt.encode("utf-8")).decode("ascii")
    return f"{PREFIX}{connector}${salt}${stored.value}"


def unwrap(phc: str) -> tuple[str, Stored]:
    """The connector name and the stored hash of an imported credential; ValueError if it is
    not one."""
    if not is_imported(phc):
        raise ValueError("not an imported legacy hash")
    connector, salt, value = phc[len(PREFIX):].split("$", 2)
    if not connector or not value:
        raise ValueError("an imported legacy hash names its connector and holds a hash")
    if salt == _NO_SALT:
        return connector, Stored(value)
    kind, _, encoded = salt.partition(":")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("the salt of an imported legacy hash is not base64") from None
    if kind == "b":
        return connector, Stored(value, raw)
    if kind == "t":
        return connector, Stored(value, raw.decode("utf-8"))
    raise ValueError("the salt of an imported legacy hash is neither text nor bytes")


def verify(phc: str, password: str, decoy: Callable[[str], object]) -> bool:
    """Whether ``password`` matches the imported legacy hash ``phc``.

    ``decoy(password)`` spends one argon2id check; it is called instead whenever the legacy hash
    cannot be checked at all, so that case costs and reads like a wrong password.
    """
    try:
        name, stored = unwrap(phc)
    except ValueError:
        _log_once("?", "the stored credential is not a well-formed imported legacy hash")
        decoy(password)
        return False
    verifier = _verifier(name)
    if verifier is None:
        decoy(password)
        return False
    try:
        return bool(verifier.verify(password, stored))
    except HashProblem as problem:
        _log_once(name, f"{problem.reason}: fix the connector's settings or set a new password")
        decoy(password)
        return False


def _verifier(name: str) -> HashVerifier | None:
    """The hash verifier of connector ``name``, or None (logged once) when it cannot verify."""
    found = current_app.extensions.get("ferry.connectors", {}).get(name)
    if found is None:
        _log_once(name, "no such connector any more")
    elif not isinstance(found, HashesConnector):
        _log_once(name, "not a connector of type hashes any more")
    elif not found.settings.enabled:
        _log_once(name, "the connector is disabled")
    else:
        return found.verifier
    return None


def _log_once(connector: str, reason: str) -> None:
    """Tell the operator once per app, connector and reason (a sign-in may repeat it often)."""
    with _logged_lock:
        logged = current_app.extensions.setdefault(_LOGGED_KEY, set())
        if (connector, reason) in logged:
            return
        logged.add((connector, reason))
    log.error("imported legacy password hashes of connector %s cannot be checked: %s; those "
              "users read a wrong password until then", connector, reason)
