"""Crafted SAML Responses: a valid baseline and the hostile corpus the ``saml`` connector refuses.

:class:`CorpusIdp` is an IdP that exists only as a key pair and an entity id: it writes its
metadata and builds assertions and responses with lxml, signed with python3-saml's ``add_sign``
(xmlsec) the way real IdPs sign them: the assertion is signed as a document of its own and then
put into the response (signing it in place would put the signature after the response's
Issuer), then the response is signed if asked. An attacker's key pair signs the forgeries.

Each ``*_response`` function returns the base64 ``SAMLResponse`` a browser would post. The
journey tables Ferry is tested with live here too, shared with the browser tests.
"""

from __future__ import annotations

import base64
import datetime
import secrets
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from lxml.builder import ElementMaker
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from tests.conftest import deployment

SAMLP, SAML, DS, MD = Saml.NS_SAMLP, Saml.NS_SAML, Saml.NS_DS, Saml.NS_MD
XS, XSI = "http://www.w3.org/2001/XMLSchema", "http://www.w3.org/2001/XMLSchema-instance"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
PASSWORD_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

P = ElementMaker(namespace=SAMLP, nsmap={"samlp": SAMLP, "saml": SAML})
A = ElementMaker(namespace=SAML, nsmap={"saml": SAML, "xs": XS, "xsi": XSI})

#: What the corpus IdP says about Alice unless told otherwise (OIDs, as pysaml2 sends them).
ALICE_ATTRIBUTES = {
    "urn:oid:0.9.2342.19200300.100.1.3": ("mail", ["alice@example.com"]),
    "urn:oid:2.5.4.42": ("givenName", ["Alice"]),
    "urn:oid:2.5.4.4": ("sn", ["Liddell"]),
    "urn:oid:2.16.840.1.113730.3.1.241": ("displayName", ["Alice Liddell"]),
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1": ("eduPersonAffiliation", ["member", "staff"]),
}

# -- the journey Ferry is tested with --------------------------------------------------------

CONNECTOR = "corp-saml"


def federated_journeys(connector: str = CONNECTOR, label: str = "Corp SSO") -> dict[str, Any]:
    """The shipped ``sign-in`` journey with a "Continue with <label>" button (README recipe)."""
    return {"sign-in": {"steps": {
        "collect": {"providers": [connector], "on": {"submitted": "local", "federate": "federate"}},
        "federate": {"type": "federate", "on": {
            "success": "create", "failure": "collect", "unavailable": "federate-unavailable",
            "rejected": "collect"}},
        "federate-unavailable": {
            "type": "notice", "title": f"We can't reach {label} right now",
            "message": "Nothing was changed. Please try again in a few minutes.",
            "button": "Try again", "on": {"continue": "collect"}},
        "create": {"on": {"created": "done", "linked": "done", "conflict": "link"}},
        "link": {"type": "link_account",
                 "on": {"linked": "done", "failure": "conflict", "throttled": "collect"}},
    }}}


def saml_deployment(table: dict[str, Any], connector: str = CONNECTOR) -> dict[str, Any]:
    return deployment({connector: table},
                      journeys=federated_journeys(connector, table.get("display_name", connector)))


# -- keys and time ---------------------------------------------------------------------------


def signing_pair(common_name: str) -> tuple[str, str]:
    """A fresh RSA-2048 key and self-signed certificate, PEM text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(),
            cert.public_bytes(serialization.Encoding.PEM).decode())


def instant(offset_seconds: float = 0) -> str:
    moment = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return "_" + secrets.token_hex(16)


def encode(document: etree._Element | bytes | str) -> str:
    if isinstance(document, etree._Element):
        document = etree.tostring(document)
    if isinstance(document, str):
        document = document.encode()
    return base64.b64encode(document).decode()


# -- the IdP ---------------------------------------------------------------------------------


@dataclass
class Request:
    """What Ferry asked for: the AuthnRequest id, its ACS URL, and the SP entity id."""

    request_id: str
    acs: str
    audience: str
    relay_state: str


@dataclass
class CorpusIdp:
    entity_id: str = "https://idp.example.test/saml/metadata"
    sso_url: str = "https://idp.example.test/saml/sso"
    keys: tuple[str, str] = field(default_factory=lambda: signing_pair("corpus IdP"))
    attacker_keys: tuple[str, str] = field(default_factory=lambda: signing_pair("attacker"))

    def metadata(self) -> str:
        body = "".join(self.keys[1].strip().splitlines()[1:-1])
        return f"""<md:EntityDescriptor xmlns:md="{MD}" entityID="{self.entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="{DS}"><ds:X509Data>
      <ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>{Saml.NAMEID_PERSISTENT}</md:NameIDFormat>
    <md:SingleSignOnService Binding="{Saml.BINDING_HTTP_REDIRECT}" Location="{self.sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

    # -- building ------------------------------------------------------------------------
    def assertion(
        self, request: Request, *, name_id: str = "persistent-alice-7f3a",
        name_id_format: str = Saml.NAMEID_PERSISTENT, attributes: dict | None = None,
        assertion_id: str | None = None, issuer: str | None = None, audience: str | None = None,
        recipient: str | None = None, in_response_to: str | None = None,
        not_before: float = -30, not_on_or_after: float = 300, confirmation_expires: float = 300,
    ) -> etree._Element:
        """An unsigned assertion about ``name_id`` answering ``request`` (offsets in seconds)."""
        attributes = ALICE_ATTRIBUTES if attributes is None else attributes
        statements = [
            A.Attribute(*[A.AttributeValue(value, {f"{{{XSI}}}type": "xs:string"})
                          for value in values],
                        Name=name, NameFormat=URI_FORMAT, **({"FriendlyName": friendly} if friendly else {}))
            for name, (friendly, values) in attributes.items()
        ]
        return A.Assertion(
            A.Issuer(issuer or self.entity_id),
            A.Subject(
                A.NameID(name_id, Format=name_id_format),
                A.SubjectConfirmation(
                    A.SubjectConfirmationData(
                        NotOnOrAfter=instant(confirmation_expires),
                        Recipient=recipient or request.acs,
                        InResponseTo=in_response_to or request.request_id),
                    Method=Saml.CM_BEARER),
            ),
            A.Conditions(A.AudienceRestriction(A.Audience(audience or request.audience)),
                         NotBefore=instant(not_before), NotOnOrAfter=instant(not_on_or_after)),
            A.AuthnStatement(A.AuthnContext(A.AuthnContextClassRef(PASSWORD_CONTEXT)),
                             AuthnInstant=instant(), SessionIndex=new_id()),
            *([A.AttributeStatement(*statements)] if statements else []),
            ID=assertion_id or new_id(), Version="2.0", IssueInstant=instant(),
        )

    def response(
        self, request: Request, *assertions: etree._Element, destination: str | None = None,
        in_response_to: str | None = None, status: str = Saml.STATUS_SUCCESS,
        second_status: str | None = None, issuer: str | None = None,
    ) -> etree._Element:
        code = P.StatusCode(Value=status)
        if second_status:
            code.append(P.StatusCode(Value=second_status))
        attributes = {"ID": new_id(), "Version": "2.0", "IssueInstant": instant(),
                      "Destination": request.acs if destination is None else destination,
                      "InResponseTo": request.request_id if in_response_to is None else in_response_to}
        # "" leaves an attribute out (an unsolicited response, no Destination).
        return P.Response(A.Issuer(issuer or self.entity_id), P.Status(code), *assertions,
                          **{k: v for k, v in attributes.items() if v != ""})

    # -- signing -------------------------------------------------------------------------
    def sign(self, element: etree._Element, *, attacker: bool = False,
             sha1: bool = False) -> etree._Element:
        """``element`` signed as a document of its own (enveloped, exclusive c14n)."""
        key, cert = self.attacker_keys if attacker else self.keys
        signed = OneLogin_Saml2_Utils.add_sign(
            etree.tostring(element), key, cert,
            sign_algorithm=Saml.RSA_SHA1 if sha1 else Saml.RSA_SHA256,
            digest_algorithm=Saml.SHA1 if sha1 else Saml.SHA256)
        return etree.fromstring(signed)

    def signed(self, request: Request, *, sign_assertion: bool = True, sign_response: bool = False,
               attacker: bool = False, sha1: bool = False, response: dict | None = None,
               **assertion: Any) -> etree._Element:
        """A response with one assertion, signed as asked."""
        built = self.assertion(request, **assertion)
        if sign_assertion:
            built = self.sign(built, attacker=attacker, sha1=sha1)
        document = self.response(request, built, **(response or {}))
        if sign_response:
            document = self.sign(document, attacker=attacker, sha1=sha1)
        return document


# -- the hostile corpus ----------------------------------------------------------------------


def evil_twin(idp: CorpusIdp, request: Request) -> etree._Element:
    """The assertion an attacker wants accepted: about Mallory, unsigned."""
    return idp.assertion(request, name_id="persistent-mallory", attributes={
        "urn:oid:0.9.2342.19200300.100.1.3": ("mail", ["mallory@evil.example"])})


def wrapping_variants(idp: CorpusIdp, request: Request) -> dict[str, str]:
    """XML signature wrapping: a genuinely signed assertion about Alice plus a forged one."""
    signed = idp.sign(idp.assertion(request))
    variants: dict[str, str] = {}

    # 1-2. A second, unsigned assertion before / after the signed one.
    variants["evil-assertion-before-signed"] = encode(
        idp.response(request, evil_twin(idp, request), deepcopy(signed)))
    variants["evil-assertion-after-signed"] = encode(
        idp.response(request, deepcopy(signed), evil_twin(idp, request)))

    # 3. The signed assertion hidden in the response's Extensions, the evil one in its place.
    response = idp.response(request, evil_twin(idp, request))
    response.insert(1, P.Extensions(deepcopy(signed)))
    variants["signed-assertion-in-extensions"] = encode(response)

    # 4. The evil assertion carries the genuine signature, the signed assertion inside its
    #    ds:Object (the reference still points at the genuine id).
    evil = evil_twin(idp, request)
    stolen = deepcopy(signed.find(f"{{{DS}}}Signature"))
    original = deepcopy(signed)
    original.remove(original.find(f"{{{DS}}}Signature"))
    etree.SubElement(stolen, f"{{{DS}}}Object").append(original)
    evil.insert(1, stolen)
    variants["signed-assertion-in-signature-object"] = encode(idp.response(request, evil))

    # 5. The evil assertion takes the genuine assertion's ID and signature (a copy/paste
    #    forgery: the digest no longer matches).
    evil = evil_twin(idp, request)
    evil.set("ID", signed.get("ID"))
    evil.insert(1, deepcopy(signed.find(f"{{{DS}}}Signature")))
    variants["evil-assertion-with-copied-signature"] = encode(idp.response(request, evil))

    # 6. A whole signed response (Alice) wrapped in an unsigned evil response (Mallory).
    genuine = idp.sign(idp.response(request, deepcopy(signed)))
    outer = idp.response(request, evil_twin(idp, request))
    outer.insert(1, P.Extensions(genuine))
    variants["signed-response-wrapped-in-evil-response"] = encode(outer)

    # 7. The signed assertion inside the evil assertion's Advice.
    evil = evil_twin(idp, request)
    evil.insert(2, A.Advice(deepcopy(signed)))
    variants["signed-assertion-in-evil-advice"] = encode(idp.response(request, evil))
    return variants


def with_doctype(idp: CorpusIdp, request: Request, doctype: str, reference: str) -> str:
    """A validly signed response, then a DOCTYPE added and ``reference`` put in the NameID."""
    xml = etree.tostring(idp.signed(request, name_id="ENTITY-HERE")).decode()
    return encode(doctype + xml.replace("ENTITY-HERE", reference))


BILLION_LAUGHS = """<!DOCTYPE samlp:Response [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""

EXTERNAL_ENTITY = """<!DOCTYPE samlp:Response [
 <!ENTITY xxe SYSTEM "file:///etc/hostname">
]>
"""


def comment_in_name_id(idp: CorpusIdp, request: Request, signed_as: str, injected: str) -> str:
    """Signed for NameID ``signed_as``; a comment then added inside it (``injected``).

    Exclusive canonicalisation drops comments, so the signature still verifies: a parser that
    reads only the text before the comment sees whatever the attacker wants.
    """
    xml = etree.tostring(idp.signed(request, name_id=signed_as,
                                    name_id_format=Saml.NAMEID_EMAIL_ADDRESS)).decode()
    assert xml.count(signed_as) == 1
    return encode(xml.replace(signed_as, injected))
