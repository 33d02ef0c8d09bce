"""From a validated SAML assertion to the claims a mapping reads.

Attribute names in SAML are often URIs or OIDs (``urn:oid:0.9.2342.19200300.100.1.3``,
``http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress``) whose dots a dotted
mapping path cannot reach. So the claims hold:

* ``name_id``, ``name_id_format``, ``name_id_qualifier``, ``sp_name_qualifier``,
  ``session_index``, ``authn_context``, ``issuer``: the subject and the authentication;
* every attribute under its full name *and* its friendly name (the ``FriendlyName`` the IdP
  sent, else the usual name of a well-known OID, else the last segment of an http(s) URI);
  a single value is flattened, several stay a list;
* ``email``, ``given_name``, ``family_name``, ``name``, ``locale``, ``phone``: taken from the
  first of the usual eduPerson / X.500 / AD FS / Entra ID attributes present (e-mail falls back
  to an ``emailAddress`` NameID), so the default mapping works with most IdPs as they are;
* the operator's ``attribute_aliases`` (``{claim = "attribute name"}``) win over all of these.
"""

from __future__ import annotations

from typing import Any

#: Well-known attribute OIDs (eduPerson, inetOrgPerson, X.500) and their usual names.
OID_NAMES = {
    "urn:oid:0.9.2342.19200300.100.1.1": "uid",
    "urn:oid:0.9.2342.19200300.100.1.3": "mail",
    "urn:oid:2.5.4.3": "cn",
    "urn:oid:2.5.4.4": "sn",
    "urn:oid:2.5.4.42": "givenName",
    "urn:oid:2.5.4.10": "o",
    "urn:oid:2.5.4.11": "ou",
    "urn:oid:2.5.4.12": "title",
    "urn:oid:2.5.4.20": "telephoneNumber",
    "urn:oid:0.9.2342.19200300.100.1.41": "mobile",
    "urn:oid:2.16.840.1.113730.3.1.241": "displayName",
    "urn:oid:2.16.840.1.113730.3.1.39": "preferredLanguage",
    "urn:oid:2.16.840.1.113730.3.1.3": "employeeNumber",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": "eduPersonAffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": "eduPersonPrincipalName",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": "eduPersonEntitlement",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9": "eduPersonScopedAffiliation",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.10": "eduPersonTargetedID",
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.13": "eduPersonUniqueId",
}

_WS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
_MS = "http://schemas.microsoft.com/identity/claims/"

#: Standard claim -> attribute names that carry it, most specific first.
STANDARD_CLAIMS = {
    "email": ("mail", "email", "emailAddress", "urn:oid:0.9.2342.19200300.100.1.3",
              _WS + "emailaddress", "http://schemas.xmlsoap.org/claims/EmailAddress"),
    "given_name": ("givenName", "given_name", "urn:oid:2.5.4.42", _WS + "givenname"),
    "family_name": ("sn", "surname", "family_name", "urn:oid:2.5.4.4", _WS + "surname"),
    "name": ("displayName", "display_name", "urn:oid:2.16.840.1.113730.3.1.241",
             _MS + "displayname", "cn", "urn:oid:2.5.4.3", "http://schemas.xmlsoap.org/claims/CommonName"),
    "locale": ("preferredLanguage", "locale", "urn:oid:2.16.840.1.113730.3.1.39",
               _WS + "locality"),
    "phone": ("telephoneNumber", "mobile", "urn:oid:2.5.4.20",
              "urn:oid:0.9.2342.19200300.100.1.41", _WS + "mobilephone"),
}

#: Claims the connector sets itself; an attribute never overwrites them.
RESERVED = ("name_id", "name_id_format", "name_id_qualifier", "sp_name_qualifier",
            "session_index", "authn_context", "issuer")


def friendly_name(name: str) -> str | None:
    """The short name of an attribute name that is an OID or an http(s) claim URI."""
    if name in OID_NAMES:
        return OID_NAMES[name]
    if name.startswith(("http://", "https://")):
        last = name.rstrip("/").rsplit("/", 1)[-1]
        return last or None
    return None


def flatten(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else list(values)


def build_claims(
    *,
    name_id: dict[str, str],
    session_index: str | None,
    authn_contexts: list[str],
    issuer: str,
    attributes: dict[str, list[Any]],
    friendly_names: dict[str, str],
    aliases: dict[str, str],
) -> dict[str, Any]:
    """The claims of one assertion (see the module docstring).

    ``attributes``: full name -> values; ``friendly_names``: full name -> the ``FriendlyName``
    the IdP sent, where it sent one.
    """
    claims: dict[str, Any] = {}
    for key, value in (
        ("name_id", name_id.get("Value")),
        ("name_id_format", name_id.get("Format")),
        ("name_id_qualifier", name_id.get("NameQualifier")),
        ("sp_name_qualifier", name_id.get("SPNameQualifier")),
        ("session_index", session_index),
        ("authn_context", flatten(authn_contexts) if authn_contexts else None),
        ("issuer", issuer),
    ):
        if value is not None:
            claims[key] = value

    by_name: dict[str, list[Any]] = {}
    for full, values in attributes.items():
        if not values:
            continue
        for key in (full, friendly_names.get(full), friendly_name(full)):
            if key and key not in RESERVED and key not in by_name:
                by_name[key] = values
    for key, values in by_name.items():
        claims[key] = flatten(values)

    for claim, candidates in STANDARD_CLAIMS.items():
        if claim in claims:
            continue
        found = next((by_name[name] for name in candidates if name in by_name), None)
        if found is not None:
            claims[claim] = flatten(found)
    if "email" not in claims and name_id.get("Format") == \
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" and name_id.get("Value"):
        claims["email"] = name_id["Value"]

    for claim, attribute in aliases.items():
        values = by_name.get(attribute)
        if values is not None:
            claims[claim] = flatten(values)
        else:
            claims.pop(claim, None)  # what the operator named is absent: no guessed value
    return claims
