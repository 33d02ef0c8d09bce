"""``skin.attributes.html_params`` writes exactly what WTForms' own does (it replaces it)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup
from wtforms import Form, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from skin import attributes

KEYS = st.one_of(
    st.sampled_from(["class_", "for_", "data_ferry_x", "aria_described_by", "id", "autofocus"]),
    st.text(min_size=1, max_size=12),
)
VALUES = st.one_of(
    st.booleans(), st.none(), st.integers(), st.floats(allow_nan=False),
    st.text(max_size=20), st.text(max_size=20).map(Markup),
    st.sampled_from(['a"b', "<script>", "&amp;", Markup('x"y'), "'"]),
)


@given(st.dictionaries(KEYS, VALUES, max_size=8))
def test_the_same_string_as_wtforms_for_any_attributes(kwargs):
    ours, theirs = attributes.html_params(**kwargs), attributes.wtforms_original()(**kwargs)
    assert ours == theirs
    assert isinstance(ours, Markup)


def test_a_quote_in_a_value_cannot_end_the_attribute():
    written = attributes.html_params(value='x" onfocus="alert(1)', title=Markup('a"b'))
    assert written == 'title="a&quot;b" value="x&#34; onfocus=&#34;alert(1)"'


class _Sample(Form):
    name = StringField("Name <b>", validators=[DataRequired(), Length(max=5)])
    secret = PasswordField("Secret")


def _use(function) -> None:
    attributes._core.html_params = attributes._widgets.html_params = function
    for value in vars(attributes._core).values():
        if isinstance(value, type) and "html_params" in vars(value):
            value.html_params = staticmethod(function)


def _render(form) -> list[str]:
    return [str(form.name(class_="x", autofocus=True)), str(form.name.label(class_="l")),
            str(form.secret(aria_invalid="true", disabled=False))]


def test_installed_fields_and_labels_render_as_with_wtforms_own():
    form = _Sample(data={"name": 'a"<b>'})
    try:
        _use(attributes.wtforms_original())
        before = _render(form)
        attributes.install()
        assert attributes._core.Input.html_params is attributes.html_params
        after = _render(form)
    finally:
        attributes.install()  # as every app leaves it
    assert after == before
    assert 'maxlength="5"' in after[0] and "required" in after[0] and "&#34;" in after[0]
