"""LDAP protocol details the ``ldap`` connector needs and ldap3 lacks or gets wrong.

* the password policy response control (draft-behera-ldap-password-policy), decoded with pyasn1;
* TLS through an ``ssl.SSLContext`` that checks the host name itself;
* ldap3 imported without its pyasn1 deprecation warnings (warnings are errors in the tests).
"""

from __future__ import annotations

import socket
import ssl
import warnings
from typing import Any

from pyasn1.codec.ber import decoder as ber
from pyasn1.error import PyAsn1Error
from pyasn1.type import namedtype, namedval, tag, univ

with warnings.catch_warnings():
    # ldap3 2.9.1 (the latest) reads pyasn1's deprecated aliases (tagMap, typeMap) at import.
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3.core.exceptions import LDAPException, LDAPInvalidFilterError
    from ldap3.operation.search import parse_filter
    from ldap3.utils.conv import escape_filter_chars

__all__ = [
    "PPOLICY_OID", "LDAPException", "LDAPInvalidFilterError", "TlsWithHostnameCheck",
    "escape_filter_chars", "ldap3", "parse_filter", "password_policy_error",
]

PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"


class _PasswordPolicyWarning(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("timeBeforeExpiration", univ.Integer().subtype(
            implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 0))),
        namedtype.NamedType("graceAuthNsRemaining", univ.Integer().subtype(
            implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 1))),
    )


class _PasswordPolicyResponse(univ.Sequence):
    """draft-behera-ldap-password-policy, section 6.2 (what OpenLDAP's ppolicy answers)."""

    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("warning", _PasswordPolicyWarning().subtype(
            explicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, 0))),
        namedtype.OptionalNamedType("error", univ.Enumerated(namedValues=namedval.NamedValues(
            ("passwordExpired", 0), ("accountLocked", 1), ("changeAfterReset", 2),
            ("passwordModNotAllowed", 3), ("mustSupplyOldPassword", 4),
            ("insufficientPasswordQuality", 5), ("passwordTooShort", 6),
            ("passwordTooYoung", 7), ("passwordInHistory", 8),
        )).subtype(implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 1))),
    )


def password_policy_error(result: dict[str, Any]) -> str | None:
    """The ``error`` of a password policy response control in ``result``, if any."""
    control = (result.get("controls") or {}).get(PPOLICY_OID)
    value = control.get("value") if isinstance(control, dict) else None
    if not isinstance(value, bytes) or not value:
        return None
    try:
        decoded, _rest = ber.decode(value, asn1Spec=_PasswordPolicyResponse())
    except PyAsn1Error:
        return None
    error = decoded.getComponentByName("error")
    return error.prettyPrint() if error.isValue else None


class TlsWithHostnameCheck(ldap3.Tls):
    """TLS through an :class:`ssl.SSLContext` that checks the host name during the handshake.

    ldap3 turns the context's own host name check off and calls the deprecated
    ``ssl.match_hostname`` afterwards; this hands the whole job to the ``ssl`` module.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        # Small TLS records otherwise wait for delayed ACKs: ~40 ms on every operation.
        connection.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.socket = self.context.wrap_socket(
            connection.socket, server_side=False, do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host)
