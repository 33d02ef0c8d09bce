"""Authentication context classes (``acr``): what a sign-in's methods (``amr``) amount to.

Three values, weakest first, each a set the session either meets or not:

* ``urn:ferry:acr:sfa``: any sign-in (one factor: a password, a code, a federated sign-in).
* ``urn:ferry:acr:mfa``: several factors (a passkey with user verification, a device PIN, a
  legacy sign-in that completed its second factor).
* ``phr``: phishing-resistant (OpenID EAP ACR values): a passkey or a device-bound PIN, both
  bound to Ferry's origin.

An app's ``acr_values`` lists what it prefers; the ID token's ``acr`` is the first listed value
the session meets. A session that meets none of them signs in again (with ``prompt=none``:
``interaction_required``); ``acr_values`` stay voluntary (OpenID Connect Core 5.5.1.1), so the
journey's result is returned even when it still falls short, with the ``acr`` it reached.
"""

from __future__ import annotations

from collections.abc import Iterable

SFA, MFA, PHR = "urn:ferry:acr:sfa", "urn:ferry:acr:mfa", "phr"
SUPPORTED = [SFA, MFA, PHR]
_PHISHING_RESISTANT = {"hwk", "swk"}


def achieved(amr: Iterable[str]) -> list[str]:
    """Every supported ``acr`` value that a sign-in with ``amr`` meets, weakest first."""
    methods = set(amr)
    met = [SFA]
    if "mfa" in methods:
        met.append(MFA)
    if methods & _PHISHING_RESISTANT:
        met.append(PHR)
    return met


def requested(acr_values: str | None) -> list[str]:
    """The supported values of an ``acr_values`` parameter, in the app's order."""
    return [value for value in (acr_values or "").split() if value in SUPPORTED]


def satisfies(amr: Iterable[str], acr_values: str | None) -> bool:
    """Whether a session with ``amr`` meets one of the requested values (none asked: yes)."""
    wanted = requested(acr_values)
    return not wanted or bool(set(wanted) & set(achieved(amr)))


def chosen(amr: Iterable[str], acr_values: str | None) -> str | None:
    """The ``acr`` claim: the first requested value met, else the strongest met; None if not asked."""
    if not (acr_values or "").split():
        return None
    met = achieved(amr)
    for value in requested(acr_values):
        if value in met:
            return value
    return met[-1]
