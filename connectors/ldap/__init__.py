"""An LDAP directory (OpenLDAP, 389 Directory Server, Active Directory...): type ``ldap``.

Ferry binds with a service account, searches the user by a filter under a base DN, reads the
attributes for the mapping, then binds as the entry it found with the password the user typed.
The service account never sees the password; only the directory checks it.

Setup in the directory:

1. Create a service account for Ferry (its DN and password) that may search the users under the
   base DN and read the attributes listed in ``attributes``, the ``subject_attribute``
   (``entryUUID`` is operational: grant it explicitly) and, with the password policy overlay,
   ``pwdAccountLockedTime``. It needs no access to ``userPassword``.
2. Let users bind with their own password (OpenLDAP: ``by anonymous auth`` on ``userPassword``).
3. Offer TLS: LDAPS (``ldaps://``, port 636) or StartTLS on ``ldap://`` (port 389), with a
   certificate for the host name in ``url``; give Ferry the CA file if a private CA signed it.
4. Find a filter that matches exactly one user for what users type (usually their e-mail).

Settings (``[connectors.<name>]``, ``type = "ldap"``):

* ``url``: ``ldaps://host[:port]`` or ``ldap://host[:port]``, or a list of them: replicas tried
  in order when one cannot be reached.
* ``start_tls`` (default false): upgrade ``ldap://`` connections with StartTLS.
* ``allow_plaintext`` (default false): accept ``ldap://`` without StartTLS, which sends every
  password in clear text; only for a directory on the same host or a trusted link.
* ``tls_verify`` (default true): check the server certificate and host name. Turning it off
  lets anyone on the path read the passwords; never in production.
* ``ca_file`` (optional): PEM file of the CA(s) to trust, instead of the system's.
* ``bind_dn``, ``bind_password`` (use ``"env:NAME"``): the service account. Without them Ferry
  searches anonymously (only if the directory allows it).
* ``base_dn``: where users live, e.g. ``ou=people,dc=example,dc=com``.
* ``search_scope`` (default ``subtree``; or ``one``): the whole tree below ``base_dn``, or its
  direct children only.
* ``user_filter`` (default ``(&(objectClass=inetOrgPerson)(mail={identifier}))``): finds the user;
  ``{identifier}`` is replaced by what the user typed, escaped (RFC 4515), so it cannot change the
  filter. Active Directory: ``(&(objectCategory=person)(objectClass=user)(|(mail={identifier})
  (userPrincipalName={identifier})))``.
* ``list_filter`` (optional): the entries ``ferry roster pull`` lists; default the
  ``user_filter`` with ``*`` for the identifier (see :mod:`connectors.ldap.listing`).
* ``attributes`` (default ``mail``, ``givenName``, ``sn``, ``cn``, ``displayName``, ``uid``,
  ``preferredLanguage``): what is read; each becomes a claim of that name, and ``dn`` is the
  entry's DN. Values that are not UTF-8 text become base64 (``objectGUID``: its usual GUID text).
* ``list_attributes`` (default none): attributes kept as lists of all their values (``memberOf``);
  every other attribute gives its first value (the directory's order).
* ``subject_attribute`` (default ``entryUUID``): the stable, never reused id of the entry
  (Active Directory: ``objectGUID``; 389 DS: ``nsUniqueId``).
* ``subject_dn_fallback`` (default false): use the DN when an entry has no subject attribute.
  A DN changes when a user is renamed or moved: prefer fixing the service account's access.
* ``disabled_filter`` (optional): entries it matches are disabled accounts, e.g.
  ``(employeeType=inactive)`` or, for Active Directory,
  ``(userAccountControl:1.2.840.113556.1.4.803:=2)``.
* ``password_policy`` (default true): send the password policy control (draft-behera, OpenLDAP's
  ``ppolicy``, 389 DS) with the user's bind and read the account state from its answer; servers
  that do not know it ignore it.
* ``referrals`` (default ``unavailable``): a directory that refers part of the search elsewhere
  has not answered in full, so Ferry says it is unavailable (the reason names the referral);
  ``ignore`` searches only what this server holds. Referrals are never followed: that would send
  the service account's password to whatever server an entry names. Configure another ``ldap``
  connector for that server instead.
* ``mapping`` (default ``email = "mail"``, ``given_name = "givenName"``, ``family_name = "sn"``,
  ``name = "cn"``, ``locale = "preferredLanguage"``): each path must name a claim read above.
* ``display_name``, ``connect_timeout``, ``read_timeout`` (LDAP connect and receive timeouts, and
  the search time limit), ``breaker_failures``, ``breaker_reset``, ``rate_limit``,
  ``send_identifier``: as every connector.

Outcomes:

* An empty password is refused at once, before any bind: LDAP takes a bind with a DN and no
  password as an *unauthenticated* bind that succeeds (RFC 4513 section 5.1.2).
* No entry is an unknown user; a bind refused with ``invalidCredentials`` (49) a wrong password.
* Blocked accounts: an entry matched by ``disabled_filter`` or locked by an administrator
  (``pwdAccountLockedTime: 000001010000Z``) is ``disabled``, told only after the user's bind
  proved the password right (slapd's ppolicy refuses any bind of an administrator-locked entry
  with ``accountLocked`` itself, which gives ``locked``). From the password policy control:
  ``accountLocked`` gives ``locked``, ``passwordExpired`` gives ``password_expired``,
  ``changeAfterReset`` gives ``password_change_required``.
* Unavailable, and logged for the operator: the service account's bind refused, a server down, a
  timeout, a TLS failure, a base DN that does not exist, a referral, and a filter that matches
  more than one entry (a misconfiguration: Ferry never picks one).
"""

from __future__ import annotations

import base64
import math
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from connectors import deadline as deadlines
from connectors.base import (
    AccountBlocked,
    ExternalIdentity,
    InvalidCredentials,
    PasswordConnector,
    UserNotFound,
)
from connectors.ldap.listing import LdapListing
from connectors.ldap.protocol import (
    PPOLICY_OID,
    LDAPException,
    TlsWithHostnameCheck,
    escape_filter_chars,
    ldap3,
    password_policy_error,
)
from connectors.ldap.settings import LdapSettings
from connectors.listing import ListedPage

ADMIN_LOCK = "000001010000Z"  # OpenLDAP ppolicy: locked until an administrator unlocks
PPOLICY_BLOCKS = {"accountLocked": "locked", "passwordExpired": "password_expired",
                  "changeAfterReset": "password_change_required"}
class LdapConnector(PasswordConnector):
    type = "ldap"
    Settings = LdapSettings
    settings: LdapSettings
    supports_lookup = True

    def __init__(self, name: str, settings: LdapSettings, config: Any) -> None:
        super().__init__(name, settings, config)
        context = ssl.create_default_context(cafile=settings.ca_file)
        if not settings.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.tls = TlsWithHostnameCheck(context)
        # ldap3 packs the receive timeout into SO_RCVTIMEO as whole seconds.
        self.receive_timeout = max(1, math.ceil(self.read_timeout))
        self.listing = LdapListing(self)

    # -- listing users (ferry roster pull: see connectors/ldap/listing.py) ---------------------
    def cannot_list(self) -> str | None:
        return None

    def list_page(self, cursor: str | None, size: int) -> ListedPage:
        with self._ldap_errors():
            return self.listing.page(cursor, size)

    def end_listing(self) -> None:
        self.listing.close()

    # -- the hooks ----------------------------------------------------------------------------
    def verify(self, identifier: str, password: str) -> ExternalIdentity:
        if not password:
            # An LDAP bind with a DN and no password is an unauthenticated bind that *succeeds*.
            raise InvalidCredentials()
        with self._ldap_errors(), self._connection(self.settings.bind_dn,
                                                   self.settings.bind_password) as service:
            entry = self._find(service, identifier)
            if entry is None:
                raise UserNotFound()
            try:
                self._refuse_disabled(service, entry)
                disabled = None
            except AccountBlocked as blocked:
                disabled = blocked
        with self._ldap_errors():
            self._bind_as_user(entry["dn"], password)
        if disabled is not None:
            # Told only after the password proved right, so the page reveals nothing about
            # an account to someone who does not know its password.
            raise disabled
        return self._identity(entry)

    def lookup(self, identifier: str) -> ExternalIdentity | None:
        with self._ldap_errors(), self._connection(self.settings.bind_dn,
                                                   self.settings.bind_password) as service:
            entry = self._find(service, identifier)
            if entry is None:
                return None
            self._refuse_disabled(service, entry)
        return self._identity(entry)

    # -- the search ---------------------------------------------------------------------------
    def _find(self, conn: ldap3.Connection, identifier: str) -> dict[str, Any] | None:
        if "\x00" in identifier:
            # Escaped or not, directories written in C may end the value at a NUL and match
            # "alice@example.com\x00" as alice; no real identifier contains one.
            return None
        wanted = [*self.settings.attributes, self.settings.subject_attribute]
        if self.settings.password_policy:
            wanted.append("pwdAccountLockedTime")
        found = conn.search(
            self.settings.base_dn,
            self.settings.user_filter.replace("{identifier}", escape_filter_chars(identifier)),
            search_scope=ldap3.SUBTREE if self.settings.search_scope == "subtree" else ldap3.LEVEL,
            attributes=wanted, size_limit=2, time_limit=self.receive_timeout,
        )
        result = conn.result
        code = result.get("result")  # sizeLimitExceeded (4) comes with two entries: ambiguous
        if code == 10:  # referral
            raise self.unavailable(f"the directory referred the search for base_dn to "
                                   f"{', '.join(result.get('referrals') or [])}; Ferry does not "
                                   "follow referrals: point url and base_dn at that server")
        if code == 32:
            raise self.unavailable(f"base_dn {self.settings.base_dn!r} does not exist")
        if not found and code != 0:
            raise self.unavailable(f"search refused: {result.get('description')} ({code})")
        entries = [r for r in conn.response or [] if r.get("type") == "searchResEntry"]
        references = [uri for r in conn.response or [] if r.get("type") == "searchResRef"
                      for uri in r.get("uri") or []]
        if references and self.settings.referrals == "unavailable":
            raise self.unavailable(
                f"the directory referred part of the search to {', '.join(references)}; the user "
                "may be there. Ferry does not follow referrals: narrow base_dn, or set "
                "referrals = \"ignore\" and add a connector for that server")
        if len(entries) > 1:
            raise self._ambiguous()
        return entries[0] if entries else None

    def _ambiguous(self):
        return self.unavailable("user_filter matches more than one entry: make it (or base_dn) "
                                "match exactly one user; Ferry never picks one")

    def _refuse_disabled(self, conn: ldap3.Connection, entry: dict[str, Any]) -> None:
        locked = self._values(entry, "pwdAccountLockedTime")
        if self.settings.password_policy and ADMIN_LOCK in locked:
            raise AccountBlocked("disabled")
        if self.settings.disabled_filter:
            conn.search(entry["dn"], self.settings.disabled_filter, search_scope=ldap3.BASE,
                        attributes=["1.1"], time_limit=self.receive_timeout)
            code = conn.result.get("result")
            if code not in (0, 32):
                raise self.unavailable(f"disabled_filter search refused: "
                                       f"{conn.result.get('description')} ({code})")
            if any(r.get("type") == "searchResEntry" for r in conn.response or []):
                raise AccountBlocked("disabled")

    # -- the user's bind ----------------------------------------------------------------------
    def _bind_as_user(self, dn: str, password: str) -> None:
        controls = [(PPOLICY_OID, False, None)] if self.settings.password_policy else None
        with self._connection(None, None) as conn:
            bound, result = _simple_bind(conn, dn, password, controls)
        blocked = PPOLICY_BLOCKS.get(password_policy_error(result) or "")
        if blocked:
            raise AccountBlocked(blocked)
        if bound:
            return
        if result.get("result") == 49:  # invalidCredentials
            raise InvalidCredentials()
        raise self.unavailable(f"the user's bind was refused: {result.get('description')} "
                               f"({result.get('result')})")

    # -- the identity -------------------------------------------------------------------------
    def _identity(self, entry: dict[str, Any]) -> ExternalIdentity:
        claims = self._claims(entry)
        subject = self._values(entry, self.settings.subject_attribute)
        if subject:
            return ExternalIdentity(self.name, subject[0], claims)
        if self.settings.subject_dn_fallback:
            return ExternalIdentity(self.name, entry["dn"], claims)
        raise self.unavailable(
            f"entry {entry['dn']!r} has no {self.settings.subject_attribute} (or the service "
            "account may not read it): grant read access, or set subject_dn_fallback")

    def _claims(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The entry's DN and the ``attributes`` read, as claims (sign-ins and listings)."""
        claims: dict[str, Any] = {"dn": entry["dn"]}
        lists = {name.lower() for name in self.settings.list_attributes}
        for name in self.settings.attributes:
            values = self._values(entry, name)
            if values:
                claims[name] = values if name.lower() in lists else values[0]
        return claims

    @staticmethod
    def _values(entry: dict[str, Any], name: str) -> list[str]:
        raw = (entry.get("raw_attributes") or {}).get(name) or []
        return [_text(name, value) for value in raw]

    # -- connections --------------------------------------------------------------------------
    @contextmanager
    def _connection(self, user: str | None, password: str | None) -> Iterator[ldap3.Connection]:
        """An open (and, with ``user``, bound) connection to the first server that answers."""
        failures = []
        # Timeouts cut to what the deadline leaves (ldap3 receives in whole seconds).
        deadline = deadlines.current() or deadlines.Deadline(self.settings.deadline)
        for url in self.settings.url:
            server = ldap3.Server(url, get_info=ldap3.NONE, tls=self.tls,
                                  connect_timeout=deadline.bound(self.connect_timeout))
            conn = ldap3.Connection(
                server, auto_referrals=False, raise_exceptions=False, read_only=True,
                receive_timeout=max(1, math.ceil(deadline.bound(self.read_timeout))),
                return_empty_attributes=False, check_names=False)
            try:
                conn.open()
                if self.settings.start_tls:
                    conn.start_tls()
            except LDAPException as error:
                failures.append(f"{url}: {_describe(error)}")
                _close(conn)
                continue
            break
        else:
            raise self.unavailable("no directory server answered (" + "; ".join(failures) + ")")
        try:
            if user is not None:
                bound, result = _simple_bind(conn, user, password or "")
                if not bound:
                    raise self.unavailable(
                        f"the directory refused the service account's bind ({result.get('description')}"
                        f", {result.get('result')}): check bind_dn and bind_password")
            yield conn
        finally:
            _close(conn)

    @contextmanager
    def _ldap_errors(self) -> Iterator[None]:
        try:
            yield
        except LDAPException as error:
            deadline = deadlines.current()
            late = f" within {deadline.describe()}" if deadline and deadline.expired() else ""
            raise self.unavailable(f"LDAP failure{late}: {_describe(error)}") from None


def _simple_bind(conn: ldap3.Connection, dn: str, password: str,
                 controls: list | None = None) -> tuple[bool, dict[str, Any]]:
    """Bind as ``dn``; the password goes as bytes, exactly as typed: ldap3 would apply SASLprep
    to text, which changes some passwords (ligatures, no-break spaces) that directories stored
    as typed."""
    conn.user, conn.password, conn.authentication = dn, password.encode(), ldap3.SIMPLE
    try:
        bound = conn.bind(controls=controls)
    finally:
        conn.password = None
    return bound, dict(conn.result or {})


def _describe(error: LDAPException) -> str:
    text = str(error)
    if "timed out" in text or "timeout" in type(error).__name__.lower():
        return f"timed out ({type(error).__name__})"
    return f"{type(error).__name__}: {text[:300]}"


def _close(conn: ldap3.Connection) -> None:
    try:
        conn.unbind()
    except LDAPException:
        pass
    if conn.socket is not None:  # ldap3 leaves it open when connecting or wrapping it failed
        conn.socket.close()


def _text(name: str, value: bytes) -> str:
    """One raw attribute value as text: UTF-8, a GUID for ``objectGUID``, else base64."""
    if name.lower() == "objectguid" and len(value) == 16:
        return str(uuid.UUID(bytes_le=value))
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii")
