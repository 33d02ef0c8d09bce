"""Creating an account: ``signup_check`` (is the proved address free?) and ``sign_up`` (the
profile and password of the new user).

The shipped ``sign-up`` journey proves the address first (``otp_send`` with ``to =
"identifier"``, then ``otp_verify``'s ``proved``): every address typed gets a code and the same
page, so the first page tells nobody whether an account exists. Only the owner of the address,
holding the code, learns that it has one already.

``signup_check``: setting ``lookup_connector`` (a connector that can look users up, as for
``otp_send``). Outcomes ``new``; ``exists`` (a local user, or a user of the legacy IdP who has
not migrated yet, owns the address: route it to a page that sends them to sign in or to
forgot-password); ``unavailable`` (the legacy IdP could not answer: nothing is created, "try
again later").

``sign_up``: settings ``fields`` (profile attributes asked for: ``given_name``,
``family_name``, ``name``) and ``required`` (those of them that must be filled in). Creates the
user with the proved e-mail address marked verified and an argon2id hash of the new password,
in one transaction. Outcomes ``created``; ``exists`` (the address was taken meanwhile: nothing
is created).
"""

from __future__ import annotations

from typing import Literal

import peewee
from flask_babel import lazy_gettext as _l
from pydantic import field_validator
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

import authenticators
import connectors
from connectors import AccountBlocked, LegacyUnavailable, PasswordConnector
from connectors.hashes import UserDataInvalid
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps.base import Step, StepSettings, ValidationContext
from journeys.steps.set_password import check_new_password, password_form_class
from models import User, db, utcnow
from security.audit import record
from security.password_policy import policy
from users import credentials
from users.directory import find_by_identifier

Field = Literal["given_name", "family_name", "name"]
_LABELS = {"given_name": _l("First name"), "family_name": _l("Last name"), "name": _l("Full name")}
_AUTOCOMPLETE = {"given_name": "given-name", "family_name": "family-name", "name": "name"}


def _proved(run, step: Step) -> str:
    address = run.context.get("proved_email")
    if not address:
        raise JourneyBroken(f"{step.journey}.{step.name}: no proved e-mail address (route "
                            "otp_verify's 'proved' here)")
    return address


class SignupCheckSettings(StepSettings):
    lookup_connector: str | None = None


class SignupCheckStep(Step):
    type = "signup_check"
    Settings = SignupCheckSettings
    settings: SignupCheckSettings
    outcomes = ("new", "exists", "unavailable")

    def check(self, context: ValidationContext) -> list[str]:
        name = self.settings.lookup_connector
        if name is None:
            return []
        connector = context.connectors.get(name)
        if not isinstance(connector, PasswordConnector) or not connector.supports_lookup:
            return [f"lookup_connector: {name!r} cannot look users up"]
        return []

    def enter(self, run) -> Result:
        address = _proved(run, self)
        run.context["identifier"] = address  # the sign-in page fills it in, if it comes to that
        if find_by_identifier("email", address) is not None:
            record("signup.exists", client_id=run.client_id, where="local")
            return Done("exists")
        name = self.settings.lookup_connector
        if name is None:
            return Done("new")
        try:
            found = connectors.get(name).find(address) is not None
        except (AccountBlocked, UserDataInvalid):
            found = True  # somebody's record all the same: never a second account for it
        except LegacyUnavailable as error:
            record("legacy.unavailable", client_id=run.client_id, connector=name,
                   reason=error.reason)
            return Done("unavailable")
        if found:
            record("signup.exists", client_id=run.client_id, connector=name, where="legacy")
            return Done("exists")
        return Done("new")


class SignUpSettings(StepSettings):
    fields: list[Field] = ["given_name", "family_name"]
    required: list[Field] = []

    @field_validator("required")
    @classmethod
    def _asked(cls, value, info):
        asked = info.data.get("fields", [])
        missing = [name for name in value if name not in asked]
        if missing:
            raise ValueError(f"required names fields that are not asked for: {missing}")
        return value


def profile_form(settings: SignUpSettings, formdata=None):
    """The profile fields the settings ask for, then the new password and its confirmation."""

    class ProfileForm(password_form_class()):
        pass

    for name in reversed(settings.fields):
        needed = name in settings.required
        validators = [DataRequired(_l("Fill in this field.")) if needed else Optional(),
                      Length(max=200)]
        field = StringField(_LABELS[name], validators=validators,
                            filters=[lambda value: value.strip() if isinstance(value, str) else value],
                            render_kw={"autocomplete": _AUTOCOMPLETE[name]})
        setattr(ProfileForm, name, field)
    form = ProfileForm(formdata=formdata)
    order = ["step", "csrf_token", *settings.fields, "password", "confirm"]
    form._fields = {key: form._fields[key] for key in order if key in form._fields}
    return form


class SignUpStep(Step):
    type = "sign_up"
    Settings = SignUpSettings
    settings: SignUpSettings
    outcomes = ("created", "exists")

    def _page(self, run, form) -> Result:
        return self.render(run, form, fields=[form[name] for name in self.settings.fields],
                           email=_proved(run, self), rules=policy().rules())

    def enter(self, run) -> Result:
        return self._page(run, profile_form(self.settings))

    def submit(self, run, form_data) -> Result:
        address = _proved(run, self)
        form = profile_form(self.settings, form_data)
        if not form.validate() or not check_new_password(form, (address,)):
            return self._page(run, form)
        password_hash = authenticators.get("password").hash(form.password.data)  # no lock held
        profile = {name: form[name].data or None for name in self.settings.fields}
        if "name" not in profile and (profile.get("given_name") or profile.get("family_name")):
            profile["name"] = " ".join(filter(None, (profile.get("given_name"),
                                                     profile.get("family_name"))))
        now = utcnow()
        try:
            with db.atomic():
                user = User.create(email=address, email_verified=True, created_at=now,
                                   updated_at=now, attributes={}, **profile)
                credentials.set_password(user, password_hash)
        except peewee.IntegrityError:
            record("signup.exists", client_id=run.client_id, where="race")
            return Done("exists")  # taken between the check and now: nothing was created
        run.context.pop("proved_email", None)
        run.set_user(user, "otp")
        record("user.signed_up", user_id=user.id, client_id=run.client_id)
        return Done("created")
