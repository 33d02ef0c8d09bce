"""The peer's password and client-secret hashers (see :mod:`dot_site` for why).

``FERRY_DOT_ARGON2`` holds Ferry's argon2id parameters as ``ferry_server.argon2_params`` gives
them: ``{"time_cost": 2, "memory_cost": 19456, "parallelism": 1, "hash_len": 32, "salt_len": 16}``.
"""

import dataclasses
import hashlib
import json
import os

from django.contrib.auth.hashers import Argon2PasswordHasher, BasePasswordHasher
from django.utils.crypto import constant_time_compare

_PARAMS = json.loads(os.environ.get("FERRY_DOT_ARGON2", "{}"))


class BenchArgon2PasswordHasher(Argon2PasswordHasher):
    """Django's argon2id hasher with Ferry's parameters (algorithm name ``argon2`` as Django's)."""

    time_cost = _PARAMS.get("time_cost", Argon2PasswordHasher.time_cost)
    memory_cost = _PARAMS.get("memory_cost", Argon2PasswordHasher.memory_cost)
    parallelism = _PARAMS.get("parallelism", Argon2PasswordHasher.parallelism)
    hash_len = _PARAMS.get("hash_len", 32)

    def params(self):
        """Django's parameters with Ferry's hash length (Django's default is 32 too)."""
        return dataclasses.replace(super().params(), hash_len=self.hash_len)


class ClientSecretSHA256Hasher(BasePasswordHasher):
    """An app's client secret as SHA-256, compared in constant time: what Ferry does.

    A client secret is a long random string, so no salt or stretching is needed; never use this
    for passwords (it is second in ``PASSWORD_HASHERS``, so Django never picks it for them).
    """

    algorithm = "sha256_secret"

    def salt(self):
        """No salt: see the class."""
        return ""

    def encode(self, password, salt):
        """``sha256_secret$<hex digest>``."""
        return f"{self.algorithm}${hashlib.sha256(password.encode()).hexdigest()}"

    def decode(self, encoded):
        """The parts Django asks of a hasher."""
        algorithm, digest = encoded.split("$", 1)
        return {"algorithm": algorithm, "hash": digest, "salt": ""}

    def verify(self, password, encoded):
        """Whether ``password`` hashes to ``encoded``, in constant time."""
        return constant_time_compare(self.encode(password, ""), encoded)

    def safe_summary(self, encoded):
        """For Django's admin (unused here)."""
        return {"algorithm": self.algorithm}

    def harden_runtime(self, password, encoded):
        """Nothing to equalise: every check costs one SHA-256."""
