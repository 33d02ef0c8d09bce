"""Portal section: applications (OAuth clients). List, register, edit, delete, rotate the
secret (shown once), and "Try it" (a sign-in for the app, as the app would start it).

Every app comes from :func:`store.views`: the file's are read-only here (changed in
``ferry.toml``), the store's can be changed. The form is :mod:`blueprints.admin.apps_form`,
generated from :class:`provider.app_settings.AppSettings`. A save goes through
:func:`store.save`, which validates the whole deployment and refuses a form opened at an older
revision than the stored one (:class:`store.Conflict`: the page says who saved, keeps what this
admin typed, and nothing is lost). Secrets are made here with :func:`secrets.token_urlsafe`,
shown once on the page that answers the POST (``Cache-Control: no-store``) and never again;
the audit trail records that a secret was made, never the secret.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

import store
from blueprints.admin import apps_form
from blueprints.admin.base import audit_change, bp
from operators import sessions
from operators.sessions import require
from provider.app_settings import SECRET_METHODS
from store import objects


def _actor() -> str:
    return sessions.current().email


def _app_or_404(client_id: str) -> store.ObjectView:
    view = store.view("apps", client_id)
    if view is None:
        abort(404)
    return view


def _writable_or_403(view: store.ObjectView) -> None:
    if view.read_only:
        abort(403)


def _posted_revision() -> int | None:
    try:
        return int(request.form.get("revision", ""))
    except ValueError:
        return None


def _kept(data: dict) -> dict:
    """A stored app's settings to save again: every redacted secret kept as it is."""
    return {key: store.KEEP if value == objects.REDACTED else value for key, value in data.items()}


def _form(*, client_id: str, view, fields, values, errors=None, general=(), revision=None,
          confidential=True, status=200):
    page = render_template("admin/apps_form.html", fields=fields,
                           values=apps_form.display(fields, values), errors=errors or {},
                           general=list(general), client_id=client_id, view=view,
                           revision=revision, confidential=confidential)
    return page, status


def _secret_page(client_id: str, secret: str, rotated: bool):
    page = render_template("admin/apps_secret.html", client_id=client_id, secret=secret,
                           rotated=rotated)
    return page, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"}


@bp.get("/apps")
@require()
def apps():
    """Every app, the file's (read-only) and the store's."""
    return render_template("admin/apps.html", apps=store.views("apps"))


@bp.route("/apps/new", methods=["GET", "POST"])
@require()
def app_new():
    """Register an app: a confidential one gets a secret, shown once; a public one uses PKCE."""
    fields = apps_form.fields()
    if request.method == "GET":
        return _form(client_id="", view=None, fields=fields, values=apps_form.defaults(fields))
    client_id = request.form.get("client_id", "").strip()
    confidential = request.form.get("client_type", "confidential") == "confidential"
    data, errors = apps_form.read(request.form, fields)
    method = data.get("token_endpoint_auth_method")
    if store.view("apps", client_id) is not None:
        errors["client_id"] = [_("An app with the client ID %(app)s exists already; choose "
                                 "another.", app=client_id)]
    if confidential and method == "none":
        errors["token_endpoint_auth_method"] = [_("A confidential app authenticates: choose a "
                                                  "method other than none, or a public app.")]
    if not confidential and method in SECRET_METHODS:
        errors["token_endpoint_auth_method"] = [_("A public app has no secret: choose none, "
                                                  "or a confidential app.")]
    secret = None
    if confidential and method not in ("none", "private_key_jwt"):
        secret = data["client_secret"] = secrets.token_urlsafe(32)
    elif not confidential and method is None:
        data["token_endpoint_auth_method"] = "none"  # noqa: S105 (a method's name)
    general: list[str] = []
    if errors:
        errors, general = _with_model_problems(client_id, data, errors, fields)
    else:
        try:
            store.save("apps", client_id, data, actor=_actor(), expected_revision=None)
        except store.StoreError as error:
            errors, general = apps_form.problems_by_field(client_id, error.problems, fields)
        else:
            audit_change("app.created", after=objects.redacted(data), client_id=client_id)
            if secret:
                return _secret_page(client_id, secret, rotated=False)
            flash(_("The app %(app)s was registered.", app=client_id))
            return redirect(url_for("admin.app_edit", client_id=client_id), code=303)
    return _form(client_id=client_id, view=None, fields=fields,
                 values=apps_form.shown(request.form, fields), errors=errors, general=general,
                 confidential=confidential, status=422)


@bp.route("/apps/<client_id>", methods=["GET", "POST"])
@require()
def app_edit(client_id: str):
    """An app's settings, at the revision the page was opened at; the store's can be saved."""
    view = _app_or_404(client_id)
    fields = apps_form.fields()
    if request.method == "GET":
        return _form(client_id=client_id, view=view, fields=fields, values=view.data,
                     revision=view.revision)
    _writable_or_403(view)
    revision = _posted_revision()
    covered = apps_form.posted(request.form, fields)
    data = {key: value for key, value in _kept(view.data).items() if key not in covered}
    typed, errors = apps_form.read(request.form, fields, stored=view.data)
    data.update(typed)
    general: list[str] = []
    if revision is None:
        general = [_("The form was incomplete (no revision); open the app again.")]
    elif errors:
        errors, general = _with_model_problems(client_id, data, errors, fields)
    else:
        try:
            store.save("apps", client_id, data, actor=_actor(), expected_revision=revision)
        except store.StoreError as error:
            errors, general = apps_form.problems_by_field(client_id, error.problems, fields)
        else:
            audit_change("app.updated", before=view.data,
                         after=store.view("apps", client_id).data, client_id=client_id)
            flash(_("The changes to %(app)s were saved.", app=client_id))
            return redirect(url_for("admin.app_edit", client_id=client_id), code=303)
    status = 409 if any(_is_conflict(p) for p in general) else 422
    return _form(client_id=client_id, view=view, fields=fields,
                 values=apps_form.shown(request.form, fields), errors=errors, general=general,
                 revision=revision, status=status)


def _with_model_problems(client_id: str, data: dict, errors: dict, fields):
    """The form's own problems, and what the model says of the other fields."""
    found, general = apps_form.problems_by_field(
        client_id, apps_form.model_problems(client_id, data), fields)
    for name, messages in errors.items():
        found[name] = messages  # the form's word on a field it could not read comes first
    return found, general


def _is_conflict(problem: str) -> bool:
    return "since you opened it" in problem or "by somebody else" in problem


@bp.post("/apps/<client_id>/rotate")
@require("admin")
def app_rotate(client_id: str):
    """A new client secret: the old one stops working at once, the new one is shown once."""
    view = _app_or_404(client_id)
    _writable_or_403(view)
    if "client_secret" not in view.data:
        flash(_("%(app)s is a public app: it has no secret to rotate.", app=client_id), "error")
        return redirect(url_for("admin.app_edit", client_id=client_id), code=303)
    secret = secrets.token_urlsafe(32)
    data = {**_kept(view.data), "client_secret": secret}
    try:
        revision = store.save("apps", client_id, data, actor=_actor(),
                              expected_revision=_posted_revision())
    except store.StoreError as error:
        for problem in error.problems:
            flash(problem, "error")
        return redirect(url_for("admin.app_edit", client_id=client_id), code=303)
    audit_change("app.secret_rotated", client_id=client_id, store_revision=revision)
    return _secret_page(client_id, secret, rotated=True)


@bp.route("/apps/<client_id>/delete", methods=["GET", "POST"])
@require()
def app_delete(client_id: str):
    """Delete one of the store's apps, after a confirmation page."""
    view = _app_or_404(client_id)
    if request.method == "GET":
        return render_template("admin/apps_delete.html", view=view)
    _writable_or_403(view)
    try:
        store.delete("apps", client_id, actor=_actor(), expected_revision=_posted_revision() or 0)
    except store.StoreError as error:
        for problem in error.problems:
            flash(problem, "error")
        return redirect(url_for("admin.app_edit", client_id=client_id), code=303)
    audit_change("app.deleted", before=view.data, client_id=client_id)
    flash(_("The app %(app)s was deleted.", app=client_id))
    return redirect(url_for("admin.apps"), code=303)


def try_it_url(client_id: str, redirect_uri: str) -> str:
    """An ``/authorize`` URL that starts a sign-in for the app, as the app itself would:
    a code for its first redirect URI, scope ``openid``, a random state and nonce, and a PKCE
    S256 challenge (of a verifier nobody keeps: the admin sees the sign-in, not tokens)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
             "scope": "openid", "state": secrets.token_urlsafe(16),
             "nonce": secrets.token_urlsafe(16), "code_challenge": challenge.decode(),
             "code_challenge_method": "S256"}
    return url_for("oidc.authorize") + "?" + urlencode(query)


@bp.get("/apps/<client_id>/try")
@require()
def app_try(client_id: str):
    """Start a sign-in for the app (the browser ends at the app's redirect URI with a code)."""
    view = _app_or_404(client_id)
    redirect_uris = view.data.get("redirect_uris") or []
    if not redirect_uris:
        abort(404)
    return redirect(try_it_url(client_id, redirect_uris[0]), code=303)
