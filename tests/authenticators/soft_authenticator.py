"""A software WebAuthn authenticator (P-256, "none" attestation) built on cryptography and cbor2.

It answers ``navigator.credentials.create`` and ``get`` options the way ``ferry-webauthn.js``
posts a browser's answer, and lets a test forge one thing at a time: the origin, the challenge,
the user-verification flag, the counter, the user handle, a synced (backup eligible) key.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import struct

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

ORIGIN = "http://localhost"  # the test issuer's origin, hence the default allowed origin
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


class SoftAuthenticator:
    """One credential on a software authenticator (discoverable or not: the server decides)."""

    def __init__(self, rp_id: str = "localhost", *, synced: bool = False) -> None:
        self.rp_id = rp_id
        self.synced = synced  # backup eligible and backed up: a multi-device (synced) key
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.user_handle: bytes | None = None
        self.sign_count = 0

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, flags: int, count: int, attested: bytes = b"") -> bytes:
        if self.synced:
            flags |= BE | BS
        rp_id_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", count) + attested

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict, *, origin: str = ORIGIN, verified: bool = True) -> str:
        self.user_handle = base64url_to_bytes(options["user"]["id"])
        credential = struct.pack(">H", len(self.credential_id)) + self.credential_id
        attested = bytes(16) + credential + self._cose_key()  # AAGUID zero: "none" attestation
        auth_data = self._auth_data(UP | AT | (UV if verified else 0), self.sign_count, attested)
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({
            "id": bytes_to_base64url(self.credential_id), "rawId": bytes_to_base64url(self.credential_id),
            "type": "public-key", "clientExtensionResults": {},
            "response": {"clientDataJSON": bytes_to_base64url(client_data),
                         "attestationObject": bytes_to_base64url(attestation), "transports": ["internal"]},
        })

    def get(self, options: dict, *, origin: str = ORIGIN, verified: bool = True,
            count: int | None = None, handle: bytes | None = None) -> str:
        if count is None:
            self.sign_count += 1
            count = self.sign_count
        auth_data = self._auth_data(UP | (UV if verified else 0), count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": bytes_to_base64url(self.credential_id), "rawId": bytes_to_base64url(self.credential_id),
            "type": "public-key", "clientExtensionResults": {},
            "response": {"clientDataJSON": bytes_to_base64url(client_data),
                         "authenticatorData": bytes_to_base64url(auth_data),
                         "signature": bytes_to_base64url(signature),
                         "userHandle": bytes_to_base64url(handle or self.user_handle or b"")},
        })


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def options_of(response) -> dict:
    """The WebAuthn options a Ferry page hands to ``ferry-webauthn.js``."""
    found = re.search(r'data-webauthn-options="([^"]*)"', response.get_data(as_text=True))
    assert found, page_text(response)[:800]
    return json.loads(html.unescape(found.group(1)))
