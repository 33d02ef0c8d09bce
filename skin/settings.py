"""Branding without templates: the typed ``[branding]`` table of a deployment and the
``branding = {...}`` key of an app, validated at start-up.

Example (``ferry.toml``)::

    [branding]
    product_name = "Acme ID"
    logo = "logo.svg"              # a file of the theme's static/ folder, or an https URL
    colors = { accent = "#0b6e4f", bg = "#f3f7f5" }
    radius = "4px"
    support_url = "https://help.acme.example/"
    terms_url = "https://acme.example/terms"
    privacy_url = "https://acme.example/privacy"

    [branding.texts.de]
    "Sign in" = "Einloggen"

An app's ``branding`` table has the same keys and wins key by key (``colors`` and ``texts``
merge entry by entry).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Colour names a deployment may set; each becomes the custom property ``--ferry-<name>``.
ColorName = Literal["bg", "surface", "text", "muted", "accent", "accent-text", "danger",
                    "notice-bg", "notice-border", "border", "focus"]

_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_LENGTH = re.compile(r"0|[0-9]{1,3}(?:\.[0-9]{1,3})?(?:px|rem|em)")
_LOGO_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._/-]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:_[A-Za-z0-9]{2,8})?")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def check_https_url(value: str) -> str:
    """An absolute https URL with a host and nothing that could break out of an attribute."""
    from security import origin_of

    if not value.startswith("https://") or origin_of(value) is None:
        raise ValueError(f"{value!r}: must be an https:// URL")
    if any(c in value for c in "\"'<> \\") or not value.isprintable():
        raise ValueError(f"{value!r}: has characters a URL may not have")
    return value


class BrandingSettings(BaseModel):
    """Product name, logo, colours, radius, links and text overrides; every key optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product_name: str | None = Field(
        None, min_length=1, max_length=80,
        description='Replaces "Ferry" in the page title, header and footer.')
    logo: str | None = Field(
        None, description="A file of the theme's static/ folder (logo.svg) or an https URL "
        "(added to the CSP img-src of the pages showing it).")
    logo_alt: str | None = Field(
        None, max_length=120, description="Text alternative of the logo; default: the name.")
    colors: dict[ColorName, str] = Field(
        default_factory=dict, description="Colour name -> #rgb or #rrggbb (--ferry-<name>).")
    radius: str | None = Field(None, description="Corner radius: 0, 8px, 0.5rem (--ferry-radius).")
    support_url: str | None = Field(None, description="https link shown in the footer.")
    terms_url: str | None = Field(None, description="https link to the terms of use.")
    privacy_url: str | None = Field(None, description="https link to the privacy notice.")
    texts: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Language (de, pt_BR) -> English message -> text shown instead.")

    @field_validator("colors")
    @classmethod
    def _colors(cls, values: dict[str, str]) -> dict[str, str]:
        for name, value in values.items():
            if not isinstance(value, str) or not _HEX_COLOR.fullmatch(value):
                raise ValueError(f"{name} = {value!r}: a colour is #rgb or #rrggbb")
        return values

    @field_validator("radius")
    @classmethod
    def _radius(cls, value: str | None) -> str | None:
        if value is not None and not _LENGTH.fullmatch(value):
            raise ValueError(f"{value!r}: a length is 0 or a number with px, rem or em")
        return value

    @field_validator("support_url", "terms_url", "privacy_url")
    @classmethod
    def _links(cls, value: str | None) -> str | None:
        return None if value is None else check_https_url(value)

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is None or value.startswith("https://"):
            return None if value is None else check_https_url(value)
        if ":" in value or value.startswith("/") or ".." in value.split("/") \
                or not _LOGO_FILE.fullmatch(value):
            raise ValueError(f"{value!r}: a logo is a file of the theme's static/ folder "
                             "(logo.svg) or an https:// URL")
        return value

    @field_validator("texts")
    @classmethod
    def _texts(cls, values: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for language, messages in values.items():
            if not _LANGUAGE.fullmatch(language):
                raise ValueError(f"texts.{language}: not a language code like de or pt_BR")
            for message, text in messages.items():
                extra = set(_PLACEHOLDER.findall(text)) - set(_PLACEHOLDER.findall(message))
                if extra:
                    raise ValueError(f"texts.{language}.{message!r}: placeholders "
                                     f"{sorted(extra)} are not in the message")
        return values

    @property
    def logo_is_file(self) -> bool:
        """The logo is a file of the theme's static folder (not a URL)."""
        return bool(self.logo) and not self.logo.startswith("https://")

    def merged(self, app: BrandingSettings | None) -> BrandingSettings:
        """This (the deployment's) branding with ``app``'s keys on top."""
        if app is None:
            return self
        values = self.model_dump()
        for name, value in app.model_dump(exclude_unset=True).items():
            if name == "colors":
                values["colors"] = {**values["colors"], **value}
            elif name == "texts":
                texts = {lang: dict(messages) for lang, messages in values["texts"].items()}
                for lang, messages in value.items():
                    texts.setdefault(lang, {}).update(messages)
                values["texts"] = texts
            else:
                values[name] = value
        return BrandingSettings(**values)

    def text(self, locale: str | None, message: str) -> str | None:
        """The override of ``message`` for ``locale`` (``de_CH``, then ``de``), or None."""
        if not self.texts or not locale:
            return None
        for language in (locale, locale.split("_")[0]):
            found = self.texts.get(language, {}).get(message)
            if found is not None:
                return found
        return None
