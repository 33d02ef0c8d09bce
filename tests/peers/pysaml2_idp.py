"""A SAML 2.0 IdP built on pysaml2's ``saml2.server.Server``, in process, on loopback.

pysaml2 does the SAML (AuthnRequest parsing and its signature check, the response and its
signatures with Debian's ``xmlsec1``); this module adds a login page that checks real passwords
and serves it with werkzeug in a thread on a free port of 127.0.0.1, stopped at exit::

    with Pysaml2Idp() as idp:
        idp.url, idp.metadata_url, idp.entity_id
        idp.register_sp(xml)          # trust an SP from its metadata (Ferry's /metadata)
        idp.users["alice@example.com"]
        idp.signing_algorithm = SHA1  # e.g. to see Ferry refuse a deprecated algorithm

Like most pysaml2 deployments it names attributes by OID with the ``uri`` name format
(``urn:oid:0.9.2342.19200300.100.1.3`` for ``mail``), signs the response and the assertion
(RSA-SHA256 unless told otherwise), and sends a persistent NameID qualified by both entity ids.
The login page (heading "pysaml2 test IdP", fields "Email" and "Password") answers a wrong
password with "Wrong email or password" and offers "Cancel", which answers the SP with the
status ``Responder/AuthnFailed``.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import secrets
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from flask import Flask, Response, abort, request
from werkzeug.serving import BaseWSGIServer, make_server

with warnings.catch_warnings():
    # pysaml2 7.5.5 names cryptography's CFB mode at import time (saml2.cryptography.symmetric),
    # which cryptography 50 deprecates; the IdP never uses it. Only that warning is silenced.
    warnings.filterwarnings("ignore", message="CFB has been moved",
                            category=CryptographyDeprecationWarning)
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.authn_context import PASSWORDPROTECTEDTRANSPORT
    from saml2.config import IdPConfig
    from saml2.metadata import create_metadata_string
    from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
    from saml2.samlp import STATUS_AUTHN_FAILED
    from saml2.server import Server
    from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

__all__ = ["Pysaml2Idp"]

XMLSEC1 = "/usr/bin/xmlsec1"

USERS = {
    "alice@example.com": ("wonderland-1865", {
        "uid": ["alice"], "mail": ["alice@example.com"], "givenName": ["Alice"],
        "sn": ["Liddell"], "displayName": ["Alice Liddell"],
    }),
    "carol@example.com": ("through-the-looking-glass-1871", {
        "uid": ["carol"], "mail": ["carol@example.com"], "givenName": ["Carol"],
        "sn": ["Lewis"], "displayName": ["Carol Lewis"],
        "eduPersonAffiliation": ["member", "staff"],
    }),
}

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pysaml2 test IdP</title>
</head><body><h1>pysaml2 test IdP</h1>{error}
<form method="post" action="/login"><input type="hidden" name="key" value="{key}">
<p><label for="email">Email</label> <input id="email" name="email" type="email"></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password"></p>
<p><button type="submit" name="action" value="login">Log in</button>
<button type="submit" name="action" value="cancel">Cancel</button></p></form></body></html>"""


def _signing_pair(common_name: str) -> tuple[bytes, bytes]:
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
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


class Pysaml2Idp:
    """The IdP: pysaml2 for SAML, a Flask login page, werkzeug in a daemon thread."""

    def __init__(self) -> None:
        if not Path(XMLSEC1).exists():
            raise RuntimeError("pysaml2 needs Debian's xmlsec1: apt-get install xmlsec1")
        self.workdir = Path(tempfile.mkdtemp(prefix="ferry-pysaml2-"))
        key_pem, self.cert_pem = _signing_pair("pysaml2 test IdP")
        (self.workdir / "idp.key").write_bytes(key_pem)
        (self.workdir / "idp.crt").write_bytes(self.cert_pem)
        self.users = {email: password for email, (password, _attrs) in USERS.items()}
        self.signing_algorithm = SIG_RSA_SHA256
        self.digest_algorithm = DIGEST_SHA256
        self._pending: dict[str, dict[str, Any]] = {}
        self._sp_metadata: list[str] = []
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._wsgi(), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.entity_id = f"{self.url}/metadata"
        self.metadata_url = self.entity_id
        self.saml = self._saml_server()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="pysaml2-idp")

    def __enter__(self) -> Pysaml2Idp:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def register_sp(self, metadata_xml: str | bytes) -> None:
        """Trust the SP described by ``metadata_xml`` (replacing any SP trusted before)."""
        self._sp_metadata = [metadata_xml.decode() if isinstance(metadata_xml, bytes)
                             else metadata_xml]
        self.saml = self._saml_server()

    def _saml_server(self) -> Server:
        config = IdPConfig()
        config.load({
            "entityid": self.entity_id,
            "xmlsec_binary": XMLSEC1,
            "key_file": str(self.workdir / "idp.key"),
            "cert_file": str(self.workdir / "idp.crt"),
            "metadata": {"inline": self._sp_metadata},
            "allow_unknown_attributes": True,
            "service": {"idp": {
                "name": "pysaml2 test IdP",
                "endpoints": {"single_sign_on_service": [(f"{self.url}/sso", BINDING_HTTP_REDIRECT)]},
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "want_authn_requests_signed": False,
                "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
            }},
        })
        return Server(config=config)

    # -- the web side ----------------------------------------------------------------------
    def _wsgi(self) -> Flask:
        app = Flask("pysaml2_idp")

        @app.get("/metadata")
        def metadata():
            document = create_metadata_string(None, config=self.saml.config, valid=None)
            return Response(document, mimetype="application/samlmetadata+xml")

        @app.get("/sso")
        def sso():
            try:
                parsed = self.saml.parse_authn_request(
                    request.args["SAMLRequest"], BINDING_HTTP_REDIRECT,
                    relay_state=request.args.get("RelayState"),
                    sigalg=request.args.get("SigAlg"), signature=request.args.get("Signature"),
                )
            except Exception as error:  # an unknown SP, a bad or badly signed request
                return Response(f"bad AuthnRequest: {type(error).__name__}", status=400)
            message = parsed.message
            key = secrets.token_urlsafe(16)
            self._pending[key] = {
                "id": message.id, "sp": message.issuer.text.strip(),
                "acs": message.assertion_consumer_service_url,
                "relay_state": request.args.get("RelayState", ""),
            }
            return PAGE.format(error="", key=key)

        @app.post("/login")
        def login():
            pending = self._pending.get(request.form.get("key", ""))
            if pending is None:
                abort(400)
            if request.form.get("action") == "cancel":
                del self._pending[request.form["key"]]
                return self._answer(pending, None)
            email = request.form.get("email", "").strip().lower()
            known = USERS.get(email)
            if known is None or not secrets.compare_digest(known[0], request.form.get("password", "")):
                return PAGE.format(error='<p role="alert">Wrong email or password</p>',
                                   key=html.escape(request.form["key"]))
            del self._pending[request.form["key"]]
            return self._answer(pending, known[1])

        return app

    def _answer(self, pending: dict[str, Any], identity: dict[str, list[str]] | None) -> Response:
        acs = pending["acs"]
        allowed = self.saml.metadata.assertion_consumer_service(pending["sp"], BINDING_HTTP_POST)
        if acs not in [endpoint["location"] for endpoint in allowed]:
            return Response("unknown assertion consumer service", status=400)
        if identity is None:
            answer = self.saml.create_error_response(
                pending["id"], acs, (STATUS_AUTHN_FAILED, "The user cancelled"), sign=False)
        else:
            opaque = hashlib.sha256(f"{identity['uid'][0]}|{pending['sp']}".encode()).hexdigest()
            answer = self.saml.create_authn_response(
                identity, in_response_to=pending["id"], destination=acs,
                sp_entity_id=pending["sp"],
                name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=opaque,
                               name_qualifier=self.entity_id, sp_name_qualifier=pending["sp"]),
                authn={"class_ref": PASSWORDPROTECTEDTRANSPORT},
                sign_response=True, sign_assertion=True,
                sign_alg=self.signing_algorithm, digest_alg=self.digest_algorithm,
            )
        http_args = self.saml.apply_binding(BINDING_HTTP_POST, str(answer), acs,
                                            pending["relay_state"], response=True)
        return Response(http_args["data"], mimetype="text/html")
