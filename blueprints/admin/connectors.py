"""Portal section: the integration hub (``/admin/connectors``).

* the **catalogue** of every connector type (:data:`connectors.registry`) with its setup guide,
  each connector module's own documentation (:mod:`blueprints.admin.connectors_guide`);
* the **instances**, the file's read-only and the portal's editable, with their status (on,
  turned off, circuit breaker open);
* **forms** generated from each type's typed settings (:mod:`blueprints.admin.forms`): a value
  of the wrong type is told next to its field and nothing is saved; a save names the revision
  the form was opened at, so a second admin saving from the same one is told (``store.Conflict``);
* **turning a connector off and on**: ``enabled = false`` in its settings, which makes it answer
  "unavailable" at once without calling the legacy IdP (journeys naming it still validate);
* **Test connection**: what ``ferry connector-test`` does (:func:`connectors.testing.try_password`),
  with an identifier and a password typed by the admin, neither kept nor logged;
* for ``saml``, reading the IdP's metadata into the form (:mod:`.connectors_saml`) and the link
  to Ferry's SP metadata; for ``oidc``, fetching the discovery document
  (:mod:`.connectors_discovery`).
"""

from __future__ import annotations

import json

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

import connectors
import store
from blueprints.admin import connectors_guide, connectors_saml, forms
from blueprints.admin.base import audit_change, bp
from connectors import PasswordConnector, RedirectConnector
from connectors.base import ConnectorSettings, PasswordlessConnector
from connectors.testing import try_password
from operators import sessions
from operators.sessions import require
from security.audit import record
from store.objects import REDACTED

#: Settings every connector has that most never change: shown folded, after the type's own.
COMMON = tuple(name for name in ConnectorSettings.model_fields
               if name not in ("type", "display_name", "enabled", "mapping"))


def type_class(type_name: str):
    """The connector class registered as ``type_name`` (404 for any other)."""
    connectors.registry.discover()
    try:
        return connectors.registry.get(type_name)
    except KeyError:
        abort(404)


def kind_of(cls) -> str:
    """How users meet a type: ``password`` (Ferry asks for it), ``redirect`` (they sign in at
    the legacy IdP) or ``passwordless`` (a code the legacy IdP sends)."""
    if issubclass(cls, PasswordConnector):
        return "password"
    if issubclass(cls, RedirectConnector):
        return "redirect"
    return "passwordless" if issubclass(cls, PasswordlessConnector) else ""


def status(view, built) -> tuple[str, str]:
    """An instance's status, as (``on`` | ``off`` | ``open`` | ``half_open`` | ``down``, words)."""
    if view.data.get("enabled") is False:
        return "off", _("off: answers unavailable")
    if built is None:
        return "down", _("not running")
    try:
        state = built.guard.state
    except Exception:  # the breaker's store does not answer: say so rather than fail the page
        return "on", _("on")
    if state == "open":
        return "open", _("circuit breaker open")
    if state == "half_open":
        return "half_open", _("circuit breaker half-open")
    return "on", _("on")


@require()
def connectors_page():
    """The instances with their status, and the catalogue of types."""
    connectors.registry.discover()
    running = connectors.instances()
    rows = []
    for view in store.views("connectors"):
        cls = connectors.registry.get(view.data.get("type", "")) \
            if view.data.get("type") in connectors.registry else None
        rows.append((view, kind_of(cls) if cls else "", status(view, running.get(view.name))))
    catalogue = [(name, connectors_guide.summary(connectors.registry.get(name)),
                  kind_of(connectors.registry.get(name))) for name in connectors.registry.types()]
    return render_template("admin/connectors.html", catalogue=catalogue, rows=rows)


# The menu names the section by its endpoint, ``admin.connectors``; the view function has a
# longer name so that it does not shadow the ``connectors`` package here.
bp.add_url_rule("/connectors", endpoint="connectors", view_func=connectors_page, methods=["GET"])


@bp.get("/connectors/types/<type_name>")
@require()
def connector_type(type_name: str):
    """One type's setup guide."""
    cls = type_class(type_name)
    return render_template("admin/connector_type.html", type_name=type_name, kind=kind_of(cls),
                           guide=connectors_guide.blocks(connectors_guide.guide_text(cls)))


def fields_of(cls) -> list[forms.Field]:
    """The form's inputs for a type (``type`` is the page's, not an input)."""
    return forms.describe(cls.Settings, exclude=("type",))


def form_page(type_name: str, name: str, *, formdata=None, data=None, view=None, errors=None,
              general=None, result=None, notices=(), revision: int | None = None,
              status_code: int = 200):
    """The connector's page: its form (from ``formdata`` as posted, or ``data``), the test.

    ``revision``: the one the form was opened at (a form shown again keeps it, so saving it
    once more after somebody else's save is refused again rather than overwriting theirs).
    """
    cls = type_class(type_name)
    fields = fields_of(cls)
    form = forms.settings_form(fields, formdata=formdata, data=data)
    built = connectors.instances().get(name) if view else None
    return render_template(
        "admin/connector_form.html", type_name=type_name, name=name, form=form, view=view,
        errors=errors or {}, general=general or [], result=result, notices=list(notices),
        guide=connectors_guide.blocks(connectors_guide.guide_text(cls)), kind=kind_of(cls),
        state=status(view, built) if view else None, saml=type_name == "saml",
        revision=revision if revision is not None else (view.revision if view else None),
        common=COMMON, common_open=any(name in (errors or {}) for name in COMMON),
        kept={key for key, value in view.data.items() if value == REDACTED} if view else set()
        ), status_code


def _stored_values(cls, view) -> dict:
    """What the form shows of a saved connector: its settings over the type's defaults."""
    return {**forms.defaults(cls.Settings), **view.data}


def _with_metadata(type_name: str):
    """The posted form, with the uploaded IdP metadata's values in it (saml only); the
    metadata read (or None) and the upload's problems."""
    upload = request.files.get(connectors_saml.UPLOAD)
    if type_name != "saml" or upload is None or not upload.filename:
        return request.form, None, {}
    found = connectors_saml.read(upload)
    if found.problem:
        return request.form, found, {connectors_saml.UPLOAD: [found.problem]}
    formdata = request.form.copy()
    for key, value in found.values.items():
        formdata[key] = value
    return formdata, found, {}


def _metadata_notices(found) -> list[str]:
    notices = [_("Read from the IdP's metadata: entity id %(entity)s, single sign-on at %(sso)s "
                 "and its signing certificate(s). Review the settings, then save.",
                 entity=found.values["idp_entity_id"], sso=found.values["idp_sso_url"])]
    if found.signed_requests:
        notices.append(_("The IdP wants signed requests: give sp_cert and sp_key and tick "
                         "sign_authn_requests."))
    return notices


def save(type_name: str, name: str, view):
    """Check and save the posted settings (a new connector when ``view`` is None)."""
    cls = type_class(type_name)
    formdata, metadata, errors = _with_metadata(type_name)
    opened = _posted_revision() if view else None  # the revision the form was opened at
    page = {"formdata": formdata, "view": view, "revision": opened}
    if metadata and not metadata.problem and request.form.get("read_metadata"):
        return form_page(type_name, name, **page, notices=_metadata_notices(metadata))
    data, problems = forms.parse(formdata, fields_of(cls), view.data if view else None)
    errors = {**{field: [problem] for field, problem in problems.items()}, **errors}
    if errors:
        return form_page(type_name, name, **page, errors=errors, status_code=400)
    if view is not None:  # the settings this form does not show are kept as they are
        data = {**{k: store.KEEP if v == REDACTED else v for k, v in view.data.items()}, **data}
    data["type"] = type_name
    try:
        store.save("connectors", name, data, actor=sessions.current().email,
                   expected_revision=opened)
    except store.StoreError as error:
        errors, general = forms.errors_by_field(f"connectors.{name}.", error.problems)
        return form_page(type_name, name, **page, errors=errors, general=general, status_code=409
                         if isinstance(error, store.Conflict) else 400)
    audit_change("connector.saved", before=view.data if view else None,
                 after=store.view("connectors", name).data, connector=name)
    flash(_("The connector %(name)s was saved; every server runs it within seconds.", name=name))
    return redirect(url_for("admin.connector", name=name), code=303)


@bp.route("/connectors/new/<type_name>", methods=["GET", "POST"])
@require()
def connector_new(type_name: str):
    """A new instance of ``type_name`` (a POST with ``prefill`` only fills the form)."""
    cls = type_class(type_name)
    name = request.form.get("name", "").strip()
    if request.method == "GET" or request.form.get("prefill"):
        names = {field.name for field in fields_of(cls)}
        prefill = {key: value for key, value in request.form.items() if key in names}
        return form_page(type_name, name, data={**forms.defaults(cls.Settings), **prefill})
    if not name and not request.form.get("read_metadata"):
        return form_page(type_name, name, formdata=request.form, status_code=400,
                         errors={"name": [_("Give the connector a name.")]})
    return save(type_name, name, None)


@bp.route("/connectors/<name>", methods=["GET", "POST"])
@require()
def connector(name: str):
    """An instance's settings, status and test; the portal's can be changed here."""
    view = store.view("connectors", name)
    if view is None:
        abort(404)
    type_name = view.data.get("type", "")
    if request.method == "POST":
        if view.read_only:
            abort(403)
        return save(type_name, name, view)
    return form_page(type_name, name, data=_stored_values(type_class(type_name), view), view=view)


@bp.post("/connectors/<name>/test")
@require()
def connector_test(name: str):
    """Ask the legacy IdP about one identifier and password (neither kept nor logged)."""
    view = store.view("connectors", name)
    built = connectors.instances().get(name)
    if view is None or built is None:
        abort(404)
    identifier = request.form.get("identifier", "").strip()
    if not isinstance(built, PasswordConnector):
        result = {"outcome": "untestable"}
    elif not identifier or not request.form.get("password"):
        result = {"outcome": "incomplete"}
    else:
        tried = try_password(built, identifier, request.form.get("password", ""),
                             as_typed=request.form.get("as_typed") == "on")
        result = {"outcome": tried.outcome, "reason": tried.reason, "subject": tried.subject,
                  "profile": _json(tried.profile), "claims": _json(tried.claims),
                  "identifier": identifier}
        record("admin.connector_tested", connector=name, outcome=tried.outcome,
               admin=sessions.current().email)
    return form_page(view.data.get("type", ""), name, view=view, result=result,
                     data=_stored_values(type_class(view.data.get("type", "")), view))


@bp.post("/connectors/<name>/delete")
@require("admin")
def connector_delete(name: str):
    """Delete a portal connector (refused while a journey still needs it)."""
    view = _portal_view(name)
    try:
        store.delete("connectors", name, actor=sessions.current().email,
                     expected_revision=_posted_revision())
    except store.StoreError as error:
        for problem in error.problems:
            flash(problem, "error")
        return redirect(url_for("admin.connector", name=name), code=303)
    audit_change("connector.deleted", before=view.data, connector=name)
    flash(_("The connector %(name)s was deleted.", name=name))
    return redirect(url_for("admin.connectors"), code=303)


@bp.post("/connectors/<name>/enabled")
@require("admin")
def connector_enabled(name: str):
    """Turn a portal connector on or off (off: unavailable at once, the legacy IdP not called)."""
    view = _portal_view(name)
    enabled = request.form.get("enabled") == "1"
    data = {key: store.KEEP if value == REDACTED else value for key, value in view.data.items()}
    data["enabled"] = enabled
    try:
        store.save("connectors", name, data, actor=sessions.current().email,
                   expected_revision=_posted_revision())
    except store.StoreError as error:
        for problem in error.problems:
            flash(problem, "error")
    else:
        audit_change("connector.enabled" if enabled else "connector.disabled", connector=name,
                     before={"enabled": view.data.get("enabled", True)}, after={"enabled": enabled})
        flash(_("%(name)s is on again.", name=name) if enabled else
              _("%(name)s is off: it answers unavailable without calling the legacy IdP.", name=name))
    return redirect(url_for("admin.connector", name=name), code=303)


def _json(value) -> str:
    """``value`` as the page shows it: indented JSON, like ``ferry connector-test`` prints."""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _portal_view(name: str):
    view = store.view("connectors", name)
    if view is None:
        abort(404)
    if view.read_only:
        abort(403)
    return view


def _posted_revision() -> int:
    posted = request.form.get("revision", "")
    return int(posted) if posted.isdigit() else -1
