"""Portal: reading a SAML IdP's metadata document into the ``saml`` connector's form.

The admin uploads the metadata the IdP publishes (AD FS's ``FederationMetadata.xml``, Entra's
"Federation Metadata XML", Okta's, simpleSAMLphp's, pysaml2's...); python3-saml's
:class:`OneLogin_Saml2_IdPMetadataParser` reads it (no DTDs, no entities: defusedxml rules) and
the form is filled with what Ferry needs: ``idp_entity_id``, ``idp_sso_url`` (the HTTP-Redirect
binding, which the connector uses) and ``idp_cert`` (every signing certificate, PEM, so a
rollover keeps working), and ``name_id_format`` when the IdP names a stable one (persistent or
e-mail; a transient NameID would not link a user for good). The admin reviews and
saves; nothing is saved by reading. Explicit settings win over ``idp_metadata_xml`` and
``idp_metadata_url`` in the connector, so the filled form means what it shows.
"""

from __future__ import annotations

import binascii
import textwrap
from dataclasses import dataclass, field

from flask_babel import gettext as _
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

from connectors.saml.settings import NAME_ID_FORMATS, certificate_bodies

#: The largest metadata document the portal reads.
MAX_METADATA_BYTES = 1024 * 1024
#: The file input's name (told apart from the settings).
UPLOAD = "idp_metadata_file"


@dataclass(frozen=True)
class ReadMetadata:
    """What a metadata document gave: ``values`` for the form, or the ``problem``."""

    values: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    signed_requests: bool = False  # the IdP wants signed AuthnRequests (sp_cert and sp_key)


def pem(body: str) -> str:
    """A base64 DER certificate as a PEM block."""
    joined = "".join(body.split())
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(joined, 64)) + \
        "\n-----END CERTIFICATE-----\n"


def read(upload) -> ReadMetadata:
    """The form values an uploaded metadata file gives (``upload``: a werkzeug FileStorage)."""
    raw = upload.read(MAX_METADATA_BYTES + 1)
    if len(raw) > MAX_METADATA_BYTES:
        return ReadMetadata(problem=_("The metadata file is larger than 1 MiB."))
    return parse(raw)


def parse(document: bytes | str) -> ReadMetadata:
    """The form values ``document`` (an IdP's SAML metadata) gives."""
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(
            document, required_sso_binding=Saml.BINDING_HTTP_REDIRECT)
    except Exception as error:  # lxml's syntax errors, DTDForbidden, EntitiesForbidden...
        return ReadMetadata(problem=_("This is not readable XML (%(error)s).",
                                      error=type(error).__name__))
    idp = parsed.get("idp") or {}
    if not idp.get("entityId"):
        return ReadMetadata(problem=_("This XML describes no SAML IdP (no IDPSSODescriptor)."))
    sso = (idp.get("singleSignOnService") or {}).get("url")
    if not sso:
        return ReadMetadata(problem=_("The IdP offers no single sign-on over the HTTP-Redirect "
                                      "binding, which Ferry uses."))
    certs = (idp.get("x509certMulti") or {}).get("signing") or (
        [idp["x509cert"]] if idp.get("x509cert") else [])
    if not certs:
        return ReadMetadata(problem=_("The metadata names no signing certificate: Ferry could "
                                      "not check the IdP's signatures."))
    try:
        certificate_bodies("".join(pem(cert) for cert in certs))
    except (ValueError, binascii.Error):
        return ReadMetadata(problem=_("A signing certificate in the metadata is not readable."))
    values = {"idp_entity_id": idp["entityId"], "idp_sso_url": sso,
              "idp_cert": "".join(pem(cert) for cert in certs)}
    name_id = (parsed.get("sp") or {}).get("NameIDFormat")
    stable = {NAME_ID_FORMATS["persistent"]: "persistent", NAME_ID_FORMATS["email"]: "email"}
    if name_id in stable:  # a transient or unspecified NameID would not link a user for good
        values["name_id_format"] = stable[name_id]
    signed = bool((parsed.get("security") or {}).get("authnRequestsSigned"))
    return ReadMetadata(values, signed_requests=signed)
