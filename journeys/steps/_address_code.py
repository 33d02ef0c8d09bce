"""A one-time code to one known address, sent and checked inside a single step (the fresh
proof of ``reauthenticate``, the new address of ``change_email``): the code budgets and rules of
``otp_send`` / ``otp_verify``, without their routing."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

import authenticators
from authenticators.otp import DeliveryFailed, SendThrottled
from journeys.steps.messages import throttled_notice
from journeys.steps.otp_send import could_not_send, requester
from journeys.steps.otp_verify import ERRORS, code_form


def send(run, address: str) -> str | None:
    """Send a code for this run to ``address``; None, or the notice saying why it did not go."""
    try:
        authenticators.get("otp").issue(run.model.id_hash, address, address, "email",
                                        requester=requester(run, address))
    except SendThrottled as throttled:
        return throttled_notice(throttled.retry_after)
    except DeliveryFailed:
        return could_not_send()
    return None


@dataclass
class Checked:
    """What a posted code came to: ``ok``; or ``dead`` (start again: ``notice``); or the
    ``form`` with its error to show again."""

    ok: bool = False
    dead: bool = False
    notice: str | None = None
    form: object = None


def check(run, form_data) -> Checked:
    """Check the posted code of this run (once; five wrong ones kill it)."""
    form = code_form(formdata=form_data)
    if not form.validate():
        return Checked(form=form)
    otp = authenticators.get("otp")
    verdict = otp.verify(run.model.id_hash, form.code.data)
    if verdict == "dead":
        otp.discard(run.model.id_hash)
        return Checked(dead=True, notice=_("Too many wrong codes. Please start again."))
    if verdict != "ok":
        form.code.errors = [ERRORS[verdict]]
        return Checked(form=form)
    return Checked(ok=True)
