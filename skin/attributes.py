"""WTForms' HTML attributes, written the same for a third of the work.

Every field, label and button a page renders passes its attributes through
``wtforms.widgets.html_params``, which builds each ``name="value"`` pair with
``Markup.format`` (markupsafe's formatter, a dozen calls a pair). On the sign-in page that was
a third of the render. :func:`html_params` gives the identical string (the same order, the
same escaping, ``True`` as a bare name, ``False`` left out) with plain string formatting;
``tests/skin/test_attributes.py`` holds it to WTForms' own on every kind of key and value.
:func:`install` makes WTForms use it, once per process.
"""

from __future__ import annotations

import wtforms.widgets as _widgets
import wtforms.widgets.core as _core
from markupsafe import Markup, escape

_WTFORMS = _core.html_params


def html_params(**kwargs) -> Markup:
    """``kwargs`` as HTML attributes, sorted by key, exactly as WTForms writes them."""
    parts = []
    for key, value in sorted(kwargs.items()):
        if value is True:
            parts.append(str(escape(_core.clean_key(key))))
        elif value is not False:
            text = str(escape(value)).replace('"', "&quot;")
            parts.append(f'{escape(_core.clean_key(key))}="{text}"')
    return Markup(" ".join(parts))  # noqa: S704  # nosec B704 (every key and value escaped above)


def install() -> None:
    """Make every WTForms widget (and label) write its attributes with :func:`html_params`."""
    _core.html_params = _widgets.html_params = html_params  # widgets' and Label's
    for value in vars(_core).values():
        if isinstance(value, type) and "html_params" in vars(value):
            value.html_params = staticmethod(html_params)


def wtforms_original():
    """WTForms' own function, for the test that compares the two."""
    return _WTFORMS
