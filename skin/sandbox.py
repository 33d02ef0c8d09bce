"""The sandbox theme templates render in: :class:`ThemeSandbox`, a
``jinja2.sandbox.SandboxedEnvironment`` that only reads attributes Ferry lets pages read.

Jinja's sandbox already refuses attributes starting with ``_`` (so ``''.__class__.__mro__``,
``cycler.__init__.__globals__``, ``self.__init__.__globals__`` lead nowhere) and unsafe
callables. On top of that a theme may read attributes only of:

* plain values (strings, numbers, lists, dicts, dates), Jinja's own objects (``self``,
  ``loop``, macros, ``super()``) and Ferry's view objects (:mod:`skin.views`);
* forms: their fields and ``errors`` (never ``meta``, which reaches the CSRF secret, nor
  ``data``); fields: what rendering needs (never a password field's ``data``);
* the database rows a page lists, through the allow-list :data:`ROW_ATTRIBUTES`.

Anything else is undefined and renders as nothing (``ChainableUndefined``): a theme reaching
for ``config``, ``request.environ`` or a step's connector gets an empty string, and a refusal
is logged once per theme and attribute.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from jinja2 import ChainableUndefined
from jinja2.runtime import BlockReference, LoopContext, Macro, TemplateReference
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace
from markupsafe import Markup
from wtforms import Field, Form, PasswordField
from wtforms.fields.core import Label
from wtforms.meta import DefaultMeta

log = logging.getLogger(__name__)

_PLAIN = (str, int, float, bool, list, tuple, dict, set, frozenset, Markup, datetime.date,
          datetime.time, datetime.timedelta, ChainableUndefined, LoopContext, TemplateReference,
          BlockReference, Macro, Cycler, Joiner, Namespace)

#: What a field may show of itself.
FIELD_ATTRIBUTES = frozenset({"label", "id", "name", "type", "errors", "description", "flags",
                              "short_name", "render_kw", "choices", "checked", "default", "data"})

#: Row type name -> attributes a page may read (the account, consent and account-choice pages).
ROW_ATTRIBUTES: dict[str, frozenset[str]] = {
    "User": frozenset({"email", "email_verified", "username"}),
    "PasskeyCredential": frozenset({"id", "name", "created_at", "last_used_at"}),
    "PinCredential": frozenset({"id", "created_at", "last_used_at", "disabled_at"}),
    "ConsentGrant": frozenset({"client", "client_id", "granted_at"}),
    "OAuthClient": frozenset({"client_id", "name"}),
    "Client": frozenset({"client_id", "name"}),  # provider.clients.Client
    "Locale": frozenset({"language", "territory", "text_direction", "display_name"}),  # get_locale()
}


class ThemeSandbox(SandboxedEnvironment):
    """A sandboxed environment with Ferry's attribute allow-list (see the module docstring)."""

    def __init__(self, theme: str, **options: Any) -> None:
        super().__init__(undefined=ChainableUndefined, **options)
        self.theme = theme
        self._refused: set[tuple[str, str]] = set()

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Jinja's rules first, then Ferry's allow-list by the type of ``obj``."""
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, DefaultMeta) or isinstance(value, DefaultMeta):
            return False
        if isinstance(obj, Form):
            return attr == "errors" or isinstance(value, Field)
        if isinstance(obj, Field):
            if attr == "data" and isinstance(obj, PasswordField):
                return False
            return attr in FIELD_ATTRIBUTES
        if isinstance(obj, Label):
            return attr in ("text", "field_id")
        if isinstance(obj, _PLAIN) or _is_view(obj) or type(obj).__name__ == "Flags":
            return True
        if type(obj).__name__ == "LazyString":  # a translated label: str's own methods
            return hasattr(str, attr)
        allowed = ROW_ATTRIBUTES.get(type(obj).__name__, frozenset())
        return attr in allowed

    def unsafe_undefined(self, obj: Any, attribute: str) -> ChainableUndefined:
        """A refused attribute renders as nothing; the refusal is logged once."""
        key = (type(obj).__name__, attribute)
        if key not in self._refused:
            self._refused.add(key)
            log.warning("theme %s: refused %s.%s", self.theme, key[0], attribute)
        return self.undefined(obj=obj, name=attribute)


def _is_view(obj: Any) -> bool:
    return getattr(type(obj), "ferry_view", False) is True
