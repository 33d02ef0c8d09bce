"""``[connectors.<name>]`` of ``type = "ldap"``: the directory, how to find and bind users, what
to read; validated at start-up (the connector itself is ``connectors/ldap/``)."""

from __future__ import annotations

import ssl
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from connectors.base import ConnectorSettings
from connectors.ldap.protocol import LDAPInvalidFilterError, parse_filter

DEFAULT_ATTRIBUTES = ["mail", "givenName", "sn", "cn", "displayName", "uid", "preferredLanguage"]
DEFAULT_LDAP_MAPPING = {"email": "mail", "given_name": "givenName", "family_name": "sn",
                        "name": "cn", "locale": "preferredLanguage"}


class LdapSettings(ConnectorSettings):
    url: list[str]
    start_tls: bool = False
    allow_plaintext: bool = False
    tls_verify: bool = True
    ca_file: str | None = None
    bind_dn: str | None = None
    bind_password: str | None = None
    base_dn: str
    search_scope: Literal["subtree", "one"] = "subtree"
    user_filter: str = "(&(objectClass=inetOrgPerson)(mail={identifier}))"
    list_filter: str | None = None  # ferry roster pull; default: user_filter, {identifier} = *
    attributes: list[str] = Field(default_factory=lambda: list(DEFAULT_ATTRIBUTES))
    list_attributes: list[str] = Field(default_factory=list)
    subject_attribute: str = "entryUUID"
    subject_dn_fallback: bool = False
    disabled_filter: str | None = None
    password_policy: bool = True
    referrals: Literal["unavailable", "ignore"] = "unavailable"
    mapping: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_LDAP_MAPPING))

    @field_validator("url", mode="before")
    @classmethod
    def _urls(cls, value: Any) -> Any:
        urls = [value] if isinstance(value, str) else value
        for url in urls if isinstance(urls, list) else []:
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
                raise ValueError(f"{url!r} is not an ldap:// or ldaps:// URL with a host")
            if parts.path not in ("", "/") or parts.query:
                raise ValueError(f"{url!r}: give only scheme, host and port (base_dn is a setting)")
        if urls == []:
            raise ValueError("name at least one directory server")
        return urls

    @field_validator("user_filter", "disabled_filter", "list_filter")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_filter(value.replace("{identifier}", "x"), None, True, True, None, False)
            except LDAPInvalidFilterError as error:
                raise ValueError(f"not an LDAP filter: {error}") from None
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ssl.create_default_context(cafile=value)
            except (OSError, ssl.SSLError) as error:
                raise ValueError(f"cannot load CA certificates from {value!r}: {error}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LdapSettings:
        if self.list_filter is not None and "{identifier}" in self.list_filter:
            raise ValueError("list_filter matches every user to list: no {identifier} in it")
        if "{identifier}" not in self.user_filter:
            raise ValueError("user_filter must contain {identifier}")
        plain = [u for u in self.url if u.startswith("ldap://")]
        if self.start_tls and len(plain) < len(self.url):
            raise ValueError("start_tls is for ldap:// URLs; ldaps:// is TLS already")
        if plain and not self.start_tls and not self.allow_plaintext:
            raise ValueError("ldap:// without start_tls sends passwords in clear text: set "
                             "start_tls = true, use ldaps://, or set allow_plaintext = true")
        if bool(self.bind_dn) != bool(self.bind_password):
            # An empty password would make the service bind an unauthenticated one.
            raise ValueError("bind_dn and bind_password go together (neither: anonymous search)")
        for local, spec in self.mapping.items():
            claim = spec.split("|")[0].split(".")[0]
            if not spec.startswith("=") and claim != "dn" and claim not in self.attributes:
                raise ValueError(f"mapping.{local} reads {claim!r}, which is not in attributes")
        return self

    @property
    def listing_filter(self) -> str:
        """The filter of ``ferry roster pull``: ``list_filter``, else ``user_filter`` matching
        any value where the identifier goes (``(mail={identifier})`` becomes ``(mail=*)``)."""
        return self.list_filter or self.user_filter.replace("{identifier}", "*")
