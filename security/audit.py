"""Writing the audit log. Details never carry a password, PIN, code, token or assertion."""

from __future__ import annotations

import logging
from typing import Any

from flask import has_request_context, request

from lifecycle import metrics
from models import AuditEvent, fast

log = logging.getLogger("ferry.audit")


def record(
    event: str,
    *,
    user_id: str | None = None,
    client_id: str | None = None,
    connector: str | None = None,
    **details: Any,
) -> None:
    ip = request.remote_addr if has_request_context() else None
    fast.insert(
        AuditEvent, event=event, user_id=user_id, client_id=client_id, connector=connector, ip=ip,
        details=details,
    )
    log.info("%s user=%s client=%s connector=%s %s", event, user_id, client_id, connector, details)
    metrics.count(event, connector, details)  # /metrics: sign-ins, migrations, failures; never raises
