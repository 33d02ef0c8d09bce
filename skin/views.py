"""What a page may know about where it is: small read-only objects, the only non-plain values
(besides forms and the rows of :data:`skin.sandbox.ROW_ATTRIBUTES`) a theme template can read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class BrandingView:
    """``branding`` in every page: the product, its logo and links, the branding stylesheet."""

    ferry_view: ClassVar[bool] = True
    product_name: str = "Ferry"
    logo_url: str | None = None
    logo_alt: str = "Ferry"
    stylesheet_url: str | None = None
    support_url: str | None = None
    terms_url: str | None = None
    privacy_url: str | None = None


@dataclass(frozen=True)
class AppView:
    """``app`` on the pages of an app's journey, consent and account choice; None elsewhere."""

    ferry_view: ClassVar[bool] = True
    client_id: str
    name: str


@dataclass(frozen=True)
class StepView:
    """``step`` in a theme's step pages: the step's name and type, and its journey's name."""

    ferry_view: ClassVar[bool] = True
    name: str
    type: str
    journey: str


@dataclass(frozen=True)
class LinksView:
    """``links``: where "Forgot your password?" and "Create an account" lead, or None when the
    deployment has no journey named ``forgot-password`` / ``sign-up``."""

    ferry_view: ClassVar[bool] = True
    forgot_password: str | None = None
    sign_up: str | None = None
