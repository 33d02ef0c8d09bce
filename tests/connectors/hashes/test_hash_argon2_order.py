"""Argon2 PHC strings with the parameters in another order than ``m,t,p``.

node-argon2 0.44 and later (the npm ``argon2`` package) writes ``$argon2id$v=19$m=...,p=...,t=...``;
argon2-cffi takes only ``m,t,p``. The npm package itself writes the vectors here (installed once
into tests/connectors/hashes/node_argon2/ from its lock file, like the other Node.js peers), and
argon2-cffi's low-level API writes the same layout (and other orders) so the checks also run
where Node.js is missing.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from argon2 import Type
from argon2.low_level import hash_secret_raw

from connectors import InvalidCredentials
from tests.connectors.hashes.hash_vectors import (
    Vector,
    assert_accepts_only_the_password,
    connector_for,
    refusal,
)
from tests.connectors.hashes.legacy import ALICE, PASSWORD, WRONG
from tests.peers.npm import ensure_installed

NODE_ARGON2 = Path(__file__).parent / "node_argon2"


class NodeArgon2Unavailable(Exception):
    """npm could not install node-argon2."""


def node_argon2(password: str, type_name: str = "argon2id", memory: int = 1024, time: int = 2,
                parallelism: int = 1) -> str:
    """``argon2.hash(password, {...})`` in Node.js, as a Node app writes its users' hashes."""
    ensure_installed(NODE_ARGON2, NODE_ARGON2 / "node_modules" / "argon2" / "package.json",
                     NodeArgon2Unavailable)
    return subprocess.run(["node", "hash.cjs", type_name, str(memory), str(time), str(parallelism)],
                          cwd=NODE_ARGON2, input=password, check=True, capture_output=True,
                          text=True, timeout=60).stdout


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def cffi_argon2(password: str, order: str, kind: Type = Type.ID, memory: int = 1024, time: int = 2,
                parallelism: int = 1) -> str:
    """argon2-cffi's low-level hash, written as a PHC string with the parameters in ``order``."""
    salt = os.urandom(16)
    raw = hash_secret_raw(password.encode(), salt, time_cost=time, memory_cost=memory,
                          parallelism=parallelism, hash_len=32, type=kind)
    values = {"m": memory, "t": time, "p": parallelism}
    parameters = ",".join(f"{key}={values[key]}" for key in order)
    return f"$argon2{kind.name.lower()}$v=19${parameters}${_b64(salt)}${_b64(raw)}"


needs_node = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="Node.js and npm are not installed")


@needs_node
@pytest.mark.parametrize(("type_name", "memory", "time", "parallelism"), [
    ("argon2id", 1024, 2, 1), ("argon2id", 4096, 3, 4), ("argon2i", 2048, 2, 2), ("argon2d", 1024, 1, 1)])
def test_node_argon2_hashes_accept_the_right_password_only(app, tmp_path, type_name, memory, time,
                                                           parallelism):
    stored = node_argon2(PASSWORD, type_name, memory, time, parallelism)
    assert f"$m={memory},p={parallelism},t={time}$" in stored  # the order this test is about
    assert_accepts_only_the_password(app, tmp_path, Vector("argon2", stored, PASSWORD, WRONG, "node-argon2"))


@needs_node
def test_node_argon2_inside_django_and_openldap_prefixes(app, tmp_path):
    stored = node_argon2(PASSWORD)
    for scheme, prefixed in (("django_argon2", "argon2" + stored), ("ldap_argon2", "{ARGON2}" + stored)):
        assert_accepts_only_the_password(app, tmp_path, Vector(scheme, prefixed, PASSWORD, WRONG,
                                                               "node-argon2"))


@pytest.mark.parametrize("order", ["mpt", "tmp", "ptm", "mtp"])
@pytest.mark.parametrize("kind", [Type.ID, Type.I])
def test_any_order_of_m_t_p_is_accepted(app, tmp_path, order, kind):
    stored = cffi_argon2(PASSWORD, order, kind, parallelism=2)
    assert_accepts_only_the_password(app, tmp_path, Vector("argon2", stored, PASSWORD, WRONG,
                                                           f"argon2-cffi, {order} order"))


def test_a_tampered_hash_is_a_wrong_password(app, tmp_path):
    stored = cffi_argon2(PASSWORD, "mpt")
    tampered = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with pytest.raises(InvalidCredentials):
        connector_for(app, tmp_path, tampered).verify(ALICE, PASSWORD)


_SALT_AND_HASH = cffi_argon2(PASSWORD, "mpt").split("$", 4)[4]


@pytest.mark.parametrize(("parameters", "reason"), [
    ("m=1024,m=1024,t=2", "malformed argon2 hash: the parameters must be m, t and p"),
    ("m=1024,t=2", "malformed argon2 hash: the parameters must be m, t and p"),
    ("m=1024,p=1,t=2,keyid=abc", "malformed argon2 hash: the parameters must be m, t and p"),
    ("m=1024,p=one,t=2", "malformed argon2 hash: the parameters must be m, t and p"),
    ("m=１０２４,p=1,t=2", "malformed argon2 hash: the parameters must be m, t and p"),
    # 2 GiB of memory; then 1 GiB over five passes
    ("m=2097152,p=1,t=1", "malformed argon2 hash: cost above the server's cap"),
    ("m=1048576,p=1,t=5", "malformed argon2 hash: cost above the server's cap"),
    ("t=5,m=1048576,p=1", "malformed argon2 hash: cost above the server's cap"),
])
def test_a_bad_or_costly_parameter_list_is_refused_for_that_user(app, tmp_path, parameters, reason):
    stored = f"$argon2id$v=19${parameters}${_SALT_AND_HASH}"
    assert refusal(app, tmp_path, stored, PASSWORD).startswith(reason)


def test_a_truncated_hash_is_refused_for_that_user(app, tmp_path):
    stored = cffi_argon2(PASSWORD, "mpt")
    assert refusal(app, tmp_path, stored[:stored.rindex("$")], PASSWORD).startswith("malformed argon2 hash")
