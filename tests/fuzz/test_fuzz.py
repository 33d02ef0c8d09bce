"""Generated hostile input at every route and every form of Ferry: no 500, no traceback.

``make test`` runs a short, deterministic pass (``FERRY_FUZZ_EXAMPLES`` examples per test,
default 25) on SQLite and PostgreSQL; ``make fuzz`` runs the same tests with thousands of random
examples each. A failure prints the shrunk request and the logged exception.
"""

from __future__ import annotations

import logging
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import stages
from tests.fuzz.strategies import content_type, fields, header_value, host, raw_multipart, text

EXAMPLES = int(os.environ.get("FERRY_FUZZ_EXAMPLES", "25"))
RANDOM = os.environ.get("FERRY_FUZZ_RANDOM") == "1"
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


class Tracebacks(logging.Handler):
    """The exceptions Ferry logged as unhandled (its 500 page), for the failure message."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(self.format(record))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fuzzed(request, make_app, tmp_path):
    """Ferry with the fuzz deployment on each database, and the traceback catcher."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/fuzz.db"
    else:
        from tests.postgres import postgres_url, reset_postgres

        url = postgres_url()
        reset_postgres(url)
    app = make_app(url, DEPLOYMENT=stages.fuzz_deployment(), SIGNIN_RATE_LIMIT="100000 per minute",
                   TOKEN_RATE_LIMIT="100000 per minute", FAILED_SIGNINS_PER_IDENTIFIER="100000 per minute",
                   OTP_SENDS_PER_IDENTIFIER="100000 per hour", OTP_SENDS_PER_IP="100000 per hour",
                   OTP_SENDS_PER_SESSION="100000 per hour")
    stages.prepare(app)
    catcher = Tracebacks()
    logging.getLogger().addHandler(catcher)
    yield app, catcher
    logging.getLogger().removeHandler(catcher)


def answered(response, catcher: Tracebacks, what: str) -> None:
    """The one property: a clear answer, never a server error or a trace."""
    body = response.get_data()
    detail = "\n".join(catcher.seen[-1:]) or body[:400].decode("latin-1")
    what = what if len(what) < 600 else what[:300] + " ... " + what[-200:]
    assert response.status_code < 500 and b"Traceback" not in body, \
        f"{what} -> {response.status_code}\n{detail}"
    catcher.seen.clear()


@pytest.mark.parametrize("route", sorted(stages.ROUTES))
@FUZZ
@given(data=st.data())
def test_every_route_answers_hostile_requests(fuzzed, route, data):
    app, catcher = fuzzed
    client = app.test_client()
    method = data.draw(st.sampled_from(["GET", "POST"]))
    params = data.draw(fields(stages.ROUTES[route]))
    headers = {name: data.draw(header_value) for name in
               data.draw(st.lists(st.sampled_from(["Authorization", "Accept-Language", "X-Forwarded-For",
                                                   "X-Forwarded-Proto", "Cookie", "Referer"]), unique=True,
                                  max_size=3))}
    if data.draw(st.booleans()):
        headers["Host"] = data.draw(host)
    kind = data.draw(content_type)
    if method == "GET":
        response = client.get(route, query_string=params, headers=headers)
    elif kind in (None, "application/x-www-form-urlencoded"):
        response = client.post(route, data=params, headers=headers)
    else:
        body = data.draw(st.one_of(st.binary(max_size=300), text.map(lambda t: t.encode("utf-8", "replace"))))
        response = client.post(route, data=body, headers={**headers, "Content-Type": kind})
    answered(response, catcher, f"{method} {route} {params!r} {headers!r} {kind}")


@pytest.mark.parametrize("stage", sorted(stages.STAGES))
@FUZZ
@given(data=st.data())
def test_every_form_answers_hostile_values(fuzzed, stage, data):
    app, catcher = fuzzed
    page = stages.STAGES[stage](app)
    values = data.draw(fields(stages.FIELD_NAMES))  # fixed: hypothesis replays by position
    keep = data.draw(st.sampled_from(["all", "all", "no-step", "no-csrf"]))
    hidden = {k: v for k, v in page.hidden.items()
              if not (keep == "no-step" and k == "step") and not (keep == "no-csrf" and k == "csrf_token")}
    response = page.client.post(page.path, data={**hidden, **values})
    answered(response, catcher, f"{stage}: POST {page.path} {values!r} ({keep})")


@pytest.mark.parametrize("stage", ["sign-in", "offer", "consent"])
@FUZZ
@given(data=st.data())
def test_forms_sent_as_files_or_nameless_parts(fuzzed, stage, data):
    """A field sent as a file upload, and a multipart part with no name at all."""
    import io

    app, catcher = fuzzed
    page = stages.STAGES[stage](app)
    name = data.draw(st.sampled_from(["step", *stages.FIELD_NAMES]))
    if data.draw(st.booleans()):
        payload = {**page.hidden, name: (io.BytesIO(data.draw(st.binary(max_size=200))), "f.bin")}
        response = page.client.post(page.path, data=payload, content_type="multipart/form-data")
    else:
        nameless = (None, data.draw(st.binary(max_size=50)))
        parts = [(k, v.encode()) for k, v in page.hidden.items()] + [nameless]
        response = page.client.post(page.path, data=raw_multipart(parts),
                                    content_type="multipart/form-data; boundary=fz")
    answered(response, catcher, f"{stage}: multipart {name}")
