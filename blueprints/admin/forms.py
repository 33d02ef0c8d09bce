"""Portal forms generated from a typed settings model (pydantic): a WTForms form with one field
per setting, the field's type deciding the input, its description the hint.

* ``str`` → a text input (a textarea for PEM, XML and SQL settings); a secret's name
  (:func:`store.kinds.is_secret`) → a password input (a textarea for a PEM key) that never
  shows the stored value and keeps it when left empty (:data:`store.KEEP`);
* ``int`` / ``float`` → a number typed as text (what cannot be read is told at the field, and
  passed on as typed, so the model's own validation names it too);
* ``bool`` → a checkbox; ``Literal`` → a select (with "(default)" when optional); a list of
  ``Literal`` → checkboxes; ``list[str]`` → one value a line; ``dict``, other lists and nested
  models → JSON.

:func:`describe` reads the model, :func:`settings_form` builds the bound WTForms form (to render
or to read), :func:`parse` gives the settings a posted form holds (only what was filled in:
the model's defaults apply to the rest) and the problems by field. CSRF is the app's
(Flask-WTF's ``CSRFProtect``): templates add ``csrf_token``.
"""

from __future__ import annotations

import json
import re
import typing
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel
from wtforms import fields as wtf
from wtforms import widgets
from wtforms.form import BaseForm
from wtforms.validators import ValidationError

from store import KEEP
from store.kinds import is_secret

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) pairs
    def SelectChoice(value: str, label: str):  # type: ignore[no-redef]  # noqa: N802
        """A choice as older WTForms take it."""
        return (value, label)

#: The form's hidden list of the checkboxes it showed (an unticked box posts nothing).
SHOWN = "__shown"
_ABSENT = object()
#: Text settings that hold several lines (PEM certificates and keys, XML, SQL): a textarea,
#: since a one-line input would drop the line breaks they need.
_MULTILINE = re.compile(r"(_cert|_xml|private_key|_key_pem|sp_key|^query)$")


@dataclass(frozen=True)
class Field:
    """One input: ``kind`` is text, multiline, secret, secret_lines, number, decimal, bool,
    choice, choices, lines or json."""

    name: str
    kind: str
    hint: str
    choices: tuple[str, ...] = ()
    required: bool = False


def kind_of(name: str, annotation) -> tuple[str, tuple[str, ...]]:
    """The input kind (and choices) for a field's annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return "bool", ()
    if origin is not list and args and typing.get_origin(args[0]) is list:
        origin, annotation = list, args[0]
    if origin is list:
        inner = typing.get_args(annotation)[0]
        if typing.get_origin(inner) is typing.Literal:
            return "choices", typing.get_args(inner)
        return ("lines", ()) if inner is str else ("json", ())
    if origin is typing.Literal:
        return "choice", typing.get_args(annotation)
    if args and typing.get_origin(args[0]) is typing.Literal:
        return "choice", ("",) + typing.get_args(args[0])
    if origin is dict or annotation is dict or (args and typing.get_origin(args[0]) is dict):
        return "json", ()
    if annotation is int or (args and args[0] is int):
        return "number", ()
    if annotation is float or (args and args[0] is float):
        return "decimal", ()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) or (
            args and isinstance(args[0], type) and issubclass(args[0], BaseModel)):
        return "json", ()
    if "secret" in name or is_secret(name, ""):
        return ("secret_lines" if _MULTILINE.search(name) else "secret"), ()
    return ("multiline" if _MULTILINE.search(name) else "text"), ()


def defaults(model: type[BaseModel]) -> dict:
    """The model's defaults, to show in a new form (so a checkbox that defaults on is ticked)."""
    found = {}
    for name, info in model.model_fields.items():
        if info.is_required():
            continue
        value = info.get_default(call_default_factory=True)
        if value is not None:
            found[name] = value.model_dump() if isinstance(value, BaseModel) else value
    return found


def describe(model: type[BaseModel], exclude: tuple[str, ...] = ()) -> list[Field]:
    """The inputs for ``model``'s fields, required ones first."""
    fields = []
    for name, info in model.model_fields.items():
        if name in exclude:
            continue
        kind, choices = kind_of(name, info.annotation)
        fields.append(Field(name, kind, info.description or "", choices, info.is_required()))
    return sorted(fields, key=lambda field: not field.required)


# -- the WTForms fields, one class per kind ----------------------------------------------------
class _Setting:
    """What every generated field adds to WTForms: its kind and the setting it holds."""

    kind = "text"

    def typed(self) -> str:
        """What was posted for this field (empty when it was filled from settings)."""
        return (self.raw_data or [""])[0]  # type: ignore[attr-defined]

    def setting(self, shown: set[str], stored: dict | None) -> Any:
        """The value to save, or ``_ABSENT`` (left empty: the model's default, or kept)."""
        return self.typed().strip() or _ABSENT


class TextSetting(_Setting, wtf.StringField):
    """A line of text."""

    def _value(self) -> str:
        return self.typed() if self.raw_data else ("" if self.data is None else str(self.data))


class SecretSetting(_Setting, wtf.PasswordField):
    """A secret: never rendered; left empty, the stored one is kept."""

    kind = "secret"

    def setting(self, shown, stored):
        if self.typed().strip():
            return self.typed()  # as typed: a secret's spaces are its own
        return KEEP if stored and self.name in stored else _ABSENT


class MultilineSetting(TextSetting):
    """Several lines of text (a PEM certificate, an XML document, a query)."""

    kind = "multiline"
    widget = widgets.TextArea()


class SecretLinesSetting(SecretSetting):
    """A secret of several lines (a PEM private key): a textarea that never shows it."""

    kind = "secret_lines"
    widget = widgets.TextArea()

    def _value(self) -> str:
        return ""


class NumberSetting(_Setting, wtf.StringField):
    """A whole number, typed as text."""

    kind = "number"
    number: type = int
    problem = _l("Enter a whole number, e.g. 5.")

    def _value(self) -> str:
        return self.typed() if self.raw_data else ("" if self.data is None else str(self.data))

    def pre_validate(self, form) -> None:
        text = self.typed().strip()
        try:
            _ = text and self.number(text)
        except ValueError:
            raise ValidationError(str(self.problem)) from None

    def setting(self, shown, stored):
        text = self.typed().strip()
        if not text:
            return _ABSENT
        try:
            return self.number(text)
        except ValueError:
            return text  # the model says what is wrong with it, at the field


class DecimalSetting(NumberSetting):
    """A number with decimals."""

    kind = "decimal"
    number = float
    problem = _l("Enter a number, e.g. 2.5.")


class BoolSetting(_Setting, wtf.BooleanField):
    """A checkbox; only a box the form showed can say False."""

    kind = "bool"

    def setting(self, shown, stored):
        return bool(self.data) if self.name in shown else _ABSENT


def _offered(choices) -> set[str]:
    return {getattr(choice, "value", None) or choice[0] for choice in choices}


class ChoiceSetting(_Setting, wtf.SelectField):
    """One of the model's literals ("(default)": left to the model)."""

    kind = "choice"

    def pre_validate(self, form) -> None:
        if self.typed() and self.typed() not in _offered(self.choices):
            raise ValidationError(str(_l("Pick one of the choices offered.")))


class ChoicesSetting(_Setting, wtf.SelectMultipleField):
    """Several of the model's literals, as checkboxes."""

    kind = "choices"
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def pre_validate(self, form) -> None:
        pass  # an unknown value is dropped (``setting``)

    def setting(self, shown, stored):
        offered = _offered(self.choices)
        return [value for value in (self.raw_data or []) if value in offered]


class LinesSetting(_Setting, wtf.TextAreaField):
    """A list of strings, one a line."""

    kind = "lines"

    def _value(self) -> str:
        if self.raw_data:
            return self.typed()
        return "\n".join(str(item) for item in self.data or [])

    def setting(self, shown, stored):
        lines = [line.strip() for line in self.typed().splitlines() if line.strip()]
        return lines if lines or (stored and self.name in stored) else _ABSENT


class JsonSetting(_Setting, wtf.TextAreaField):
    """A table, a list of tables or a nested model, as JSON."""

    kind = "json"

    def _value(self) -> str:
        if self.raw_data:
            return self.typed()
        return "" if self.data is None else json.dumps(self.data, ensure_ascii=False)

    def pre_validate(self, form) -> None:
        try:
            self.typed().strip() and json.loads(self.typed())
        except ValueError as error:
            raise ValidationError(_("Not JSON: %(error)s", error=str(error))) from None

    def setting(self, shown, stored):
        text = self.typed().strip()
        if not text:
            return _ABSENT
        try:
            return json.loads(text)
        except ValueError:
            return _ABSENT  # told at the field by pre_validate


_CLASSES = {cls.kind: cls for cls in (TextSetting, MultilineSetting, SecretSetting,
                                      SecretLinesSetting, NumberSetting, DecimalSetting,
                                      BoolSetting, ChoiceSetting, ChoicesSetting, LinesSetting,
                                      JsonSetting)}


def _unbound(field: Field):
    label = f"{field.name} ({_l('required')})" if field.required else field.name
    options: dict[str, Any] = {"label": label, "description": field.hint, "id": f"f-{field.name}"}
    if field.kind in ("choice", "choices"):
        options["choices"] = [SelectChoice(choice, choice or str(_l("(default)")))
                              for choice in field.choices]
    if field.kind == "choice":
        options["validate_choice"] = False  # pre_validate says it in the portal's words
    return _CLASSES[field.kind](**options)


def settings_form(fields: list[Field], formdata=None, data: dict | None = None) -> BaseForm:
    """The WTForms form of ``fields``, filled from ``formdata`` (a post) or ``data`` (settings).

    The form names its inputs after the settings (``f-<name>`` as their ids) and carries no
    CSRF of its own: the app's ``CSRFProtect`` checks every post.
    """
    form = BaseForm([(field.name, _unbound(field)) for field in fields])
    names = {field.name for field in fields}
    form.process(formdata=formdata,
                 data={key: value for key, value in (data or {}).items() if key in names})
    return form


def parse(form, fields: list[Field], stored: dict | None = None) -> tuple[dict, dict[str, str]]:
    """The settings typed into ``form`` (only what was filled in), and parse problems by field."""
    bound = settings_form(fields, formdata=form)
    bound.validate()
    shown = set(form.getlist(SHOWN))
    data = {}
    for field in bound:
        value = field.setting(shown, stored)
        if value is not _ABSENT:
            data[field.name] = value
    problems = {field.name: field.errors[0] for field in bound if field.errors}
    return data, problems


def errors_by_field(prefix: str, problems: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split ``"<prefix><field>...: message"`` problems by field; the rest are general."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for problem in problems:
        if problem.startswith(prefix):
            field, _sep, message = problem[len(prefix):].partition(": ")
            by_field.setdefault(field.split(".")[0].split("[")[0], []).append(message or problem)
        else:
            general.append(problem)
    return by_field, general
