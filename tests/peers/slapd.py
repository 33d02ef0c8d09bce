"""OpenLDAP ``slapd`` (Debian's package) on loopback, as the legacy directory of the ``ldap`` tests.

:class:`Slapd` writes its own ``slapd.conf`` in a temporary folder (never ``/etc/ldap``), loads
the test directory with ``slapadd``, and runs ``slapd`` in the foreground as a child process with
plain LDAP and LDAPS on free loopback ports; it is stopped by its PID::

    with Slapd() as directory:
        directory.url            # ldap://127.0.0.1:PORT      (StartTLS offered)
        directory.ldaps_url      # ldaps://127.0.0.1:PORT
        directory.ca_file        # the CA that signed the server certificate (for 127.0.0.1)
        directory.other_ca_file  # a CA that did not: TLS must fail with it
        directory.bind_dn, directory.bind_password   # Ferry's service account
        directory.password("alice@example.com")
        with directory.frozen(): ...   # slapd takes connections and never answers (SIGSTOP)
        with directory.down(): ...     # slapd stopped, restarted on the same ports afterwards

The directory (``dc=example,dc=com``): the ``core``, ``cosine``, ``inetorgperson`` and ``nis``
schemas, the ``mdb`` backend and the ``ppolicy`` overlay (lock-out after :data:`MAX_FAILURES`
wrong passwords, a per-user policy whose passwords are expired). Under ``ou=people``:

* ``alice@example.com`` (Alice Liddell, also a ``posixAccount``) and ``bob@example.com`` (two
  ``mail`` values, two telephone numbers);
* ``carol@example.com``: locked by the administrator (``pwdAccountLockedTime: 000001010000Z``);
* ``lockme@example.com``: a normal user for a test that locks her out with wrong passwords;
* ``erin@example.com``: ``employeeType: inactive`` (for a ``disabled_filter``);
* ``gina@example.com``: her password has expired (``pwdMaxAge`` of her own policy);
* ``reset@example.com``: her password was reset by an administrator and must change
  (``pwdReset: TRUE`` under ``pwdMustChange``);
* ``nouuid@example.com``: present, but with ``entryUUID`` hidden from Ferry's service account;
* ``uni@example.com``: a password with characters that SASLprep would change (stored as what
  was typed, in UTF-8, as OpenLDAP's own tools and most directories do);
* ``twin@example.com``: two entries carry this address (an ambiguous directory).

``ou=partners`` is a referral (``ref: ldap://elsewhere.example/...``): a subtree search from
``dc=example,dc=com`` answers with a continuation reference for it, and a search based under it
answers ``referral`` (result code 10).

Access control, as in a real deployment: passwords are usable for binding only; the service
account reads everything else (it cannot see ``nouuid``'s ``entryUUID``); each user reads their
own entry; anonymous users read nothing. ``allow bind_anon_dn`` makes a bind with a DN and an
empty password succeed as an *unauthenticated* bind (RFC 4513 section 5.1.2), as many directories
do: the connector must never send one.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.peers import processes

__all__ = ["Slapd", "ssha"]

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
SUFFIX = "dc=example,dc=com"
PEOPLE = f"ou=people,{SUFFIX}"
SERVICE_DN = f"cn=ferry,ou=services,{SUFFIX}"
ROOT_DN = f"cn=admin,{SUFFIX}"
REFERRAL_URL = f"ldap://elsewhere.example/ou=partners,{SUFFIX}"
MAX_FAILURES = 3  # wrong passwords in a row before ppolicy locks an account


def ssha(password: str) -> str:
    """An LDAP ``{SSHA}`` hash of ``password``, as ``slappasswd`` makes it."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt, usedforsecurity=False).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Slapd:
    """A throwaway OpenLDAP server on 127.0.0.1; see the module docstring."""

    def __init__(self, startup_timeout: float = 10.0) -> None:
        self.startup_timeout = startup_timeout
        self.port, self.ldaps_port = free_port(), free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{self.ldaps_port}"
        self.base_dn = SUFFIX
        self.people_dn = PEOPLE
        self.bind_dn = SERVICE_DN
        self.bind_password = "svc-" + secrets.token_urlsafe(12)
        self.root_dn = ROOT_DN
        self.root_password = "root-" + secrets.token_urlsafe(12)
        self.referral_url = REFERRAL_URL
        self.passwords = {
            "alice@example.com": "wonderland-1865",
            "bob@example.com": "builder-" + secrets.token_urlsafe(6),
            "carol@example.com": "carol-" + secrets.token_urlsafe(6),
            "lockme@example.com": "lockme-" + secrets.token_urlsafe(6),
            "erin@example.com": "erin-" + secrets.token_urlsafe(6),
            "gina@example.com": "gina-" + secrets.token_urlsafe(6),
            "reset@example.com": "reset-" + secrets.token_urlsafe(6),
            "nouuid@example.com": "nouuid-" + secrets.token_urlsafe(6),
            "twin@example.com": "twin-" + secrets.token_urlsafe(6),
            # A ligature and a no-break space: SASLprep would turn them into "fi" and a space.
            "uni@example.com": "\ufb01x-\u00dcn\u00efcode\u00a0" + secrets.token_urlsafe(6),
        }
        self.dir: Path | None = None
        self._proc: subprocess.Popen | None = None

    # -- what the tests read ------------------------------------------------------------------
    def password(self, email: str) -> str:
        return self.passwords[email]

    def dn(self, uid: str) -> str:
        return f"uid={uid},{PEOPLE}"

    @property
    def ca_file(self) -> str:
        return str(self._path("ca.pem"))

    @property
    def other_ca_file(self) -> str:
        return str(self._path("other-ca.pem"))

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> Slapd:
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="ferry-slapd-"))
            (self.dir / "data").mkdir()
            self._write_certificates()
            self._path("slapd.conf").write_text(self._config())
            self._path("directory.ldif").write_text(self._directory())
            subprocess.run([SLAPADD, "-f", str(self._path("slapd.conf")),
                            "-l", str(self._path("directory.ldif"))],
                           check=True, capture_output=True, timeout=30)
        log = self._path("slapd.log").open("ab")
        self._proc = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", str(self._path("slapd.conf")),
             "-h", f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.ldaps_port}/"],
            stdout=log, stderr=log,
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while not all(self._accepts(port) for port in (self.port, self.ldaps_port)):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                output = self._path("slapd.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"slapd did not start:\n{output}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        processes.stop(self._proc)
        self._proc = None

    def close(self) -> None:
        self.stop()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> Slapd:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @contextmanager
    def down(self) -> Iterator[None]:
        """slapd is stopped inside the block (connections refused), then started again."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def frozen(self) -> AbstractContextManager[None]:
        """slapd accepts connections (the kernel does) but never answers, until the block ends."""
        return processes.frozen(self._proc)

    # -- administration, as an operator would ------------------------------------------------
    def modify(self, ldif: str) -> None:
        """Apply ``ldif`` (changetype records) as the directory administrator, with ldapmodify."""
        subprocess.run(["ldapmodify", "-x", "-H", self.url, "-D", ROOT_DN, "-w", self.root_password],
                       input=ldif.encode(), check=True, capture_output=True, timeout=10)

    def attribute(self, dn: str, name: str) -> list[str]:
        """The values of ``name`` on entry ``dn``, read by the administrator with ldapsearch."""
        done = subprocess.run(
            ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", self.url, "-D", ROOT_DN,
             "-w", self.root_password, "-s", "base", "-b", dn, "(objectClass=*)", name],
            capture_output=True, text=True, check=True, timeout=10)
        prefix = f"{name}: "
        return [line.removeprefix(prefix) for line in done.stdout.splitlines()
                if line.startswith(prefix)]

    def whoami(self, dn: str, password: str) -> str:
        """What ``ldapwhoami`` says after a simple bind as ``dn`` with ``password``."""
        done = subprocess.run(["ldapwhoami", "-x", "-H", self.url, "-D", dn, "-w", password],
                              capture_output=True, text=True, timeout=10)
        return (done.stdout + done.stderr).strip()

    # -- internals ----------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        assert self.dir is not None, "the server was never started"
        return self.dir / name

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def _config(self) -> str:
        schemas = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
        d = self.dir
        return f"""{schemas}
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
allow bind_anon_dn
TLSCACertificateFile {d}/ca.pem
TLSCertificateFile {d}/server.pem
TLSCertificateKeyFile {d}/server.key

database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ssha(self.root_password)}
directory {d}/data
index objectClass,mail,uid eq

overlay ppolicy
ppolicy_default "cn=default,ou=policies,{SUFFIX}"
ppolicy_use_lockout

access to attrs=userPassword
    by anonymous auth
    by * none
access to dn.exact="uid=nouuid,{PEOPLE}" attrs=entryUUID
    by * none
access to *
    by dn.exact="{SERVICE_DN}" read
    by self read
    by * none
"""

    def _directory(self) -> str:
        p = self.passwords
        people = [
            ("alice", p["alice@example.com"], "Alice Liddell", "Alice", "Liddell",
             ["alice@example.com"], ["preferredLanguage: en-GB", "objectClass: posixAccount",
                                     "uidNumber: 1865", "gidNumber: 1865",
                                     "homeDirectory: /home/alice"]),
            ("bob", p["bob@example.com"], "Bob Builder", "Bob", "Builder",
             ["bob@example.com", "robert@example.com"],
             ["telephoneNumber: +44 20 7946 0001", "telephoneNumber: +44 20 7946 0002"]),
            ("carol", p["carol@example.com"], "Carol Locked", "Carol", "Locked",
             ["carol@example.com"], ["pwdAccountLockedTime: 000001010000Z"]),
            ("lockme", p["lockme@example.com"], "Lock Me", "Lock", "Me",
             ["lockme@example.com"], []),
            ("erin", p["erin@example.com"], "Erin Inactive", "Erin", "Inactive",
             ["erin@example.com"], ["employeeType: inactive"]),
            ("gina", p["gina@example.com"], "Gina Expired", "Gina", "Expired",
             ["gina@example.com"], [f"pwdPolicySubentry: cn=expiring,ou=policies,{SUFFIX}",
                                    "pwdChangedTime: 20000101000000Z"]),
            ("reset", p["reset@example.com"], "Reset Needed", "Reset", "Needed",
             ["reset@example.com"], ["pwdReset: TRUE"]),
            ("nouuid", p["nouuid@example.com"], "No Uuid", "No", "Uuid",
             ["nouuid@example.com"], []),
            ("uni", p["uni@example.com"], "Uni Code", "Uni", "Code", ["uni@example.com"], []),
            ("twin1", p["twin@example.com"], "Twin One", "Twin", "One", ["twin@example.com"], []),
            ("twin2", p["twin@example.com"], "Twin Two", "Twin", "Two", ["twin@example.com"], []),
        ]
        records = [
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example",
            f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
            f"dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services",
            f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
            f"cn: ferry\nuserPassword: {ssha(self.bind_password)}",
            f"dn: ou=policies,{SUFFIX}\nobjectClass: organizationalUnit\nou: policies",
            f"dn: cn=default,ou=policies,{SUFFIX}\nobjectClass: organizationalRole\n"
            f"objectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\npwdLockout: TRUE\n"
            f"pwdMaxFailure: {MAX_FAILURES}\npwdLockoutDuration: 0\npwdMustChange: TRUE",
            f"dn: cn=expiring,ou=policies,{SUFFIX}\nobjectClass: organizationalRole\n"
            f"objectClass: pwdPolicy\ncn: expiring\npwdAttribute: userPassword\npwdMaxAge: 86400\n"
            f"pwdGraceAuthNLimit: 0",
            f"dn: ou=partners,{SUFFIX}\nobjectClass: referral\nobjectClass: extensibleObject\n"
            f"ou: partners\nref: {REFERRAL_URL}",
        ]
        for uid, password, cn, given, sn, mails, extra in people:
            lines = [f"dn: uid={uid},{PEOPLE}", "objectClass: inetOrgPerson", f"uid: {uid}",
                     f"cn: {cn}", f"givenName: {given}", f"sn: {sn}",
                     *(f"mail: {mail}" for mail in mails), f"userPassword: {ssha(password)}", *extra]
            records.append("\n".join(lines))
        return "\n\n".join(records) + "\n"

    def _write_certificates(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca_key, ca_cert = _ca("Ferry test LDAP CA", now)
        other_key, other_cert = _ca("Some other CA", now)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            # Only the address: ``ldaps://localhost:PORT`` reaches the server but must fail the
            # host name check.
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self._path("ca.pem").write_bytes(ca_cert.public_bytes(pem))
        self._path("other-ca.pem").write_bytes(other_cert.public_bytes(pem))
        self._path("server.pem").write_bytes(cert.public_bytes(pem))
        key_file = self._path("server.key")
        key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        os.chmod(key_file, 0o600)
        del other_key


def _ca(name: str, now: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert
