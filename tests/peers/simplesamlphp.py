"""Debian's ``simplesamlphp`` as a real SAML 2.0 IdP on loopback, served by ``php -S``.

:class:`SimpleSamlPhp` writes a configuration folder of its own (``SIMPLESAMLPHP_CONFIG_DIR``:
simplesamlphp reads its configuration from there only; nothing under ``/etc`` is edited, no
Apache), generates the IdP's signing key and certificate, and runs PHP's built-in web server on a
free port of 127.0.0.1 as a child process, stopped by its PID::

    with SimpleSamlPhp() as idp:
        idp.url                  # http://127.0.0.1:PORT (another site than Ferry's localhost)
        idp.metadata_url         # the IdP's SAML metadata (entity id, SSO URL, certificate)
        idp.register_sp(xml)     # trust an SP from its metadata document (Ferry's /metadata)
        idp.users["alice@example.com"]   # her password at the IdP
        idp.log()                # simplesamlphp's own log and PHP's output, for failures

The IdP: ``exampleauth:UserPass`` users (real password checks), responses *and* assertions
signed (``saml20.sign.response``, ``saml20.sign.assertion``, RSA-SHA256), a persistent NameID
(``saml:PersistentNameID`` over ``uid``: an opaque value stable per user and SP), and the
attributes named as Microsoft AD FS / Entra ID name them (claim URIs with the ``uri`` name
format), so the connector's default mapping is proven against those names by a real IdP.
"""

from __future__ import annotations

import datetime
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

__all__ = ["SimpleSamlPhp"]

PHP = "/usr/bin/php"
WWW = Path("/usr/share/simplesamlphp/www")
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"

#: The users, their passwords, and the attributes the IdP releases (simplesamlphp's names;
#: renamed to claim URIs on the way out).
USERS = {
    "alice@example.com": ("wonderland-1865", {
        "uid": "alice", "mail": "alice@example.com", "givenName": "Alice", "sn": "Liddell",
        "displayName": "Alice Liddell",
    }),
    "bob@example.com": ("builder-of-bridges-7", {
        "uid": "bob", "mail": "bob@example.com", "givenName": "Bob", "sn": "Builder",
        "displayName": "Bob the Builder",
    }),
}

#: simplesamlphp attribute -> the name on the wire (AD FS / Entra ID claim types).
CLAIM_URIS = {
    "mail": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "givenName": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "sn": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "displayName": "http://schemas.microsoft.com/identity/claims/displayname",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _php(value: object) -> str:
    """A Python str/bool/int/list/dict as a PHP literal (strings single-quoted, escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ", ".join(_php(item) for item in value) + "]"
    if isinstance(value, dict):
        return "[" + ", ".join(f"{_php(k)} => {_php(v)}" for k, v in value.items()) + "]"
    raise TypeError(f"no PHP literal for {type(value).__name__}")


def _signing_pair(common_name: str) -> tuple[bytes, bytes]:
    """A fresh RSA-2048 key and a self-signed certificate for it (PEM)."""
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
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


class SimpleSamlPhp:
    """One simplesamlphp IdP in a temporary folder; :meth:`start` / :meth:`stop` by PID."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metadata_url = f"{self.url}/saml2/idp/metadata.php"
        self.entity_id = self.metadata_url  # simplesamlphp's default for a __DYNAMIC__ IdP
        self.users = {email: password for email, (password, _attrs) in USERS.items()}
        self.workdir = Path(tempfile.mkdtemp(prefix="ferry-simplesamlphp-"))
        self.config_dir = self.workdir / "config"
        self.process: subprocess.Popen | None = None
        self._output = self.workdir / "php-server.log"
        key_pem, self.cert_pem = _signing_pair("simplesamlphp test IdP")
        self._write_config(key_pem)

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> SimpleSamlPhp:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        env = {**os.environ, "SIMPLESAMLPHP_CONFIG_DIR": str(self.config_dir)}
        with open(self._output, "ab") as output:
            self.process = subprocess.Popen(
                [PHP, "-S", f"127.0.0.1:{self.port}", "-t", str(WWW)],
                env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                answer = requests.get(self.metadata_url, timeout=2)
                if answer.status_code == 200 and b"IDPSSODescriptor" in answer.content:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"simplesamlphp did not start on {self.url}:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def log(self, tail: int | None = 8000) -> str:
        """PHP's server output and simplesamlphp's log (the last ``tail`` characters of each)."""
        parts = []
        for path in (self._output, self.workdir / "log" / "simplesamlphp.log"):
            if path.exists():
                text = path.read_text(errors="replace")
                parts.append(f"== {path.name} ==\n{text[-tail:] if tail else text}")
        return "\n".join(parts) or "(no output)"

    # -- trusting an SP ------------------------------------------------------------------
    def register_sp(self, metadata_xml: str | bytes) -> str:
        """Trust the SP described by ``metadata_xml``; returns its entity id.

        Reads what an operator would copy from the SP's metadata: entity id, the HTTP-POST
        assertion consumer service, and the signing certificate (then signed AuthnRequests are
        required, ``validate.authnrequest``). simplesamlphp reads its metadata files on every
        request, so this takes effect at once; a second SP replaces the first.
        """
        root = etree.fromstring(metadata_xml if isinstance(metadata_xml, bytes)
                                else metadata_xml.encode(),
                                etree.XMLParser(resolve_entities=False, no_network=True))
        entity_id = root.get("entityID")
        sp = root.find(f"{{{MD}}}SPSSODescriptor")
        acs = [node.get("Location") for node in sp.findall(f"{{{MD}}}AssertionConsumerService")
               if node.get("Binding") == POST_BINDING]
        certs = [
            "".join(node.text.split()) for node in sp.findall(
                f"{{{MD}}}KeyDescriptor/{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate")
        ]
        formats = [node.text.strip() for node in sp.findall(f"{{{MD}}}NameIDFormat")]
        entry: dict[str, object] = {
            "AssertionConsumerService": [{"Binding": POST_BINDING, "Location": acs[0]}],
            "NameIDFormat": formats[0] if formats else PERSISTENT,
            "saml20.sign.response": True,
            "saml20.sign.assertion": True,
        }
        if certs:
            entry["certData"] = certs[0]
            entry["validate.authnrequest"] = sp.get("AuthnRequestsSigned") == "true"
        self._write_php("metadata/saml20-sp-remote.php",
                        f"$metadata[{_php(entity_id)}] = {_php(entry)};\n")
        return entity_id

    # -- configuration -------------------------------------------------------------------
    def _write_php(self, relative: str, body: str) -> None:
        path = self.config_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text("<?php\n" + body)
        temporary.replace(path)  # simplesamlphp never reads a half-written file

    def _write_config(self, key_pem: bytes) -> None:
        for folder in ("cert", "log", "data", "scratch", "sessions"):
            (self.workdir / folder).mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "cert" / "idp.key").write_bytes(key_pem)
        (self.workdir / "cert" / "idp.crt").write_bytes(self.cert_pem)
        config = {
            "baseurlpath": f"{self.url}/",
            "certdir": f"{self.workdir}/cert/",
            "loggingdir": f"{self.workdir}/log/",
            "datadir": f"{self.workdir}/data/",
            "tempdir": str(self.workdir / "scratch"),
            "metadatadir": f"{self.config_dir}/metadata/",
            "technicalcontact_name": "Ferry tests",
            "technicalcontact_email": "ferry-tests@example.com",
            "timezone": "UTC",
            "secretsalt": secrets.token_hex(16),
            "auth.adminpassword": secrets.token_urlsafe(16),
            "admin.protectindexpage": True,
            "admin.protectmetadata": False,
            "admin.checkforupdates": False,
            "enable.saml20-idp": True,
            "module.enable": {"exampleauth": True, "core": True, "saml": True},
            "logging.handler": "file",
            "logging.logfile": "simplesamlphp.log",
            "session.cookie.secure": False,
            "session.phpsession.savepath": f"{self.workdir}/sessions",
            "language.cookie.secure": False,
            "store.type": "phpsession",
            "showerrors": True,
            "errorreporting": False,
            "production": True,
        }
        self._write_php(
            "config.php",
            f"$config = {_php(config)};\n"
            "$config['logging.level'] = SimpleSAML\\Logger::DEBUG;\n",
        )
        users = {f"{email}:{password}": {name: [value] for name, value in attributes.items()}
                 for email, (password, attributes) in USERS.items()}
        self._write_php("authsources.php", "$config = " + _php({
            "admin": ["core:AdminPassword"],
            "example-userpass": {0: "exampleauth:UserPass", **users},
        }) + ";\n")
        idp = {
            "host": "__DEFAULT__",
            "privatekey": "idp.key",
            "certificate": "idp.crt",
            "auth": "example-userpass",
            "saml20.sign.response": True,
            "saml20.sign.assertion": True,
            "signature.algorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "attributes.NameFormat": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
            "NameIDFormat": PERSISTENT,
            "userid.attribute": "uid",
            "authproc": {
                10: {"class": "saml:PersistentNameID", "attribute": "uid"},
                # Release uid and the named attributes only, then rename them.
                20: {"class": "core:AttributeLimit", **dict(enumerate(["uid", *CLAIM_URIS]))},
                30: {"class": "core:AttributeMap", **CLAIM_URIS},
            },
        }
        self._write_php("metadata/saml20-idp-hosted.php",
                        f"$metadata['__DYNAMIC:1__'] = {_php(idp)};\n")
        self._write_php("metadata/saml20-sp-remote.php", "")
