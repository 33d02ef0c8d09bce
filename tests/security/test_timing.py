"""Equal timing: a wrong password tells nobody whether the account exists, migrated or not.

The design (``journeys/steps/_attempt.py``): every password attempt costs exactly one hash check
of work in Ferry: the user's argon2id hash, a ``hashes`` source's own check (the legacy hash, or
a decoy of its format for an unknown user), or an argon2id decoy when nothing else checked one
(no local credential, a remote legacy IDP, a throttled identifier). A remote legacy IDP's own
latency is the one difference left, and it cannot be equalised.

Measured here with a ``hashes`` source of argon2id hashes made with Ferry's own parameters, so
that the legacy side is local and costs one hash too: migrated, not-migrated, unknown,
locally disabled and throttled identifiers must then be indistinguishable (Mann-Whitney U and
Kolmogorov-Smirnov, p >= 0.001, requests of every class interleaved at random so that load on
the machine falls on all alike), while a class that really costs one hash more must be told
apart at p < 0.001, or the comparison proves nothing. No wall-clock value is asserted.
"""

from __future__ import annotations

import html
import json
import math
import random
import re
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from models import PasswordCredential, User, db
from security.throttle import throttle
from tests.conftest import FAST_ARGON2, SignIn, deployment, form_fields
from tests.connectors.scripted_idp import Reply, ScriptedIdp

WRONG = "not the password"
RIGHT = "the right password 1"
#: Ferry's argon2id parameters in the tests (FAST_ARGON2), for the legacy hashes as well.
HASHER = PasswordHasher(time_cost=FAST_ARGON2["PASSWORD_TIME_COST"],
                        memory_cost=FAST_ARGON2["PASSWORD_MEMORY_COST"], parallelism=1)
#: One hash more: argon2id with twice the passes (the positive control).
SLOWER = PasswordHasher(time_cost=2 * FAST_ARGON2["PASSWORD_TIME_COST"],
                        memory_cost=FAST_ARGON2["PASSWORD_MEMORY_COST"], parallelism=1)
#: Identifiers of every class have the same length, so pages and cookies have the same size.
CLASSES = ("migr", "notm", "unkn", "disa", "thro")
SAMPLES = 120
ALPHA = 0.001
THROTTLE_LIMIT = 3


def identifier(kind: str, number: int) -> str:
    return f"{kind}{number:04d}@example.com"


def build(make_app, tmp_path: Path, users: int, legacy: dict | None = None):
    """Ferry with the default sign-in journey and ``users`` of every class."""
    # One hash per class is enough: a check costs the same whatever the salt.
    legacy_hash, slow_hash = HASHER.hash(RIGHT), SLOWER.hash(RIGHT)
    records = [{"id": f"l{n}", "email": identifier("notm", n), "password_hash": legacy_hash}
               for n in range(users)]
    records += [{"id": f"s{n}", "email": identifier("slow", n), "password_hash": slow_hash}
                for n in range(users)]
    export = tmp_path / "legacy.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in records))
    connector = legacy or {"type": "hashes", "source": "jsonl", "path": str(export)}
    app = make_app(DEPLOYMENT=deployment({"legacy": connector}),
                   SIGNIN_RATE_LIMIT="100000 per minute",
                   FAILED_SIGNINS_PER_IDENTIFIER=f"{THROTTLE_LIMIT} per hour")
    local_hash = HASHER.hash(RIGHT)
    with app.app_context(), db.connection_context(), db.atomic():
        for kind, status in (("migr", "active"), ("disa", "disabled")):
            for n in range(users):
                user = User.create(email=identifier(kind, n), status=status)
                PasswordCredential.create(user=user, hash=local_hash, source="local")
        for n in range(users):  # spent budgets, as after a guessing run
            for _ in range(THROTTLE_LIMIT):
                assert throttle().admit("password", identifier("thro", n))
    return app


class Walker:
    """One browser at the sign-in page, posting one identifier after another."""

    count = 0

    def __init__(self, app) -> None:
        Walker.count += 1
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{Walker.count % 250 + 1}"  # its own IP
        self.browser = SignIn(client)
        self.browser.start()

    def post(self, who: str, password: str = WRONG):
        fields = form_fields(self.browser.page.get_data(as_text=True))
        fields.update(identifier=who, password=password)
        started = time.perf_counter()
        response = self.browser.client.post("/login", data=fields)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        self.browser.page = response
        return response, elapsed


def measure(walker: Walker, kinds: tuple[str, ...], start: int) -> dict[str, list[float]]:
    """``SAMPLES`` timings of each kind, interleaved in a random order (fresh identifiers)."""
    order = [(kind, start + n) for kind in kinds for n in range(SAMPLES)]
    random.Random(start).shuffle(order)  # noqa: S311 (an order of requests, not a secret)
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    for kind, number in order:
        timings[kind].append(walker.post(identifier(kind, number))[1])
    return timings


# -- statistics (no scipy here): two-sided, large-sample approximations -------------------------
def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, ties corrected)."""
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    ranks, ties, i = [0.0] * len(pooled), 0.0, 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        ties += (j - i + 1) ** 3 - (j - i + 1)
        i = j + 1
    n1, n2 = len(a), len(b)
    u = sum(rank for rank, (_x, group) in zip(ranks, pooled, strict=True) if group == 0)
    u -= n1 * (n1 + 1) / 2
    n = n1 + n2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    z = (abs(u - n1 * n2 / 2) - 0.5) / sigma
    return math.erfc(max(z, 0) / math.sqrt(2))


def ks_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of the two-sample Kolmogorov-Smirnov test (asymptotic)."""
    xs, ys = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    while i < len(xs) and j < len(ys):
        value = min(xs[i], ys[j])
        while i < len(xs) and xs[i] == value:
            i += 1
        while j < len(ys) and ys[j] == value:
            j += 1
        d = max(d, abs(i / len(xs) - j / len(ys)))
    effective = math.sqrt(len(xs) * len(ys) / (len(xs) + len(ys)))
    lam = (effective + 0.12 + 0.11 / effective) * d
    # Q_KS(lam) = 2 sum (-1)^(k-1) exp(-2 k^2 lam^2), summed until it converges (Numerical
    # Recipes' probks); a series that does not converge means lam is tiny: p = 1.
    total, sign, previous = 0.0, 2.0, 0.0
    for k in range(1, 101):
        term = sign * math.exp(-2 * k * k * lam * lam)
        total += term
        if abs(term) <= 1e-3 * previous or abs(term) <= 1e-8 * total:
            return min(1.0, max(0.0, total))
        sign, previous = -sign, abs(term)
    return 1.0


def distinguishable(a: list[float], b: list[float]) -> bool:
    return min(mann_whitney_p(a, b), ks_p(a, b)) < ALPHA


def test_the_statistics_tell_a_shift_from_noise():
    noise = random.Random(1)  # noqa: S311 (made-up measurements)
    same = [noise.gauss(10, 2) for _ in range(400)]
    assert not distinguishable(same[:200], same[200:])
    assert distinguishable(same[:200], [x + 1.5 for x in same[200:]])
    assert mann_whitney_p([1, 2, 3] * 30, [1, 2, 3] * 30) > 0.9  # ties
    assert ks_p(same[:200], same[:200]) == 1.0


@pytest.mark.slow
def test_migrated_unknown_not_migrated_disabled_and_throttled_take_the_same_time(make_app, tmp_path):
    app = build(make_app, tmp_path, users=4 * SAMPLES + 10)
    walker = Walker(app)
    for n in range(5):  # warm up: first requests compile templates, open connections
        walker.post(identifier("unkn", 9000 + n))

    timings = measure(walker, (*CLASSES, "slow"), start=0)
    # The control: one hash more must be visible, so "indistinguishable" below means something.
    # On a busy machine it may take more samples to see it.
    for extra in (1, 2):
        if distinguishable(timings["migr"], timings["slow"]):
            break
        for kind, values in measure(walker, ("migr", "slow"), start=extra * SAMPLES).items():
            timings[kind] += values
    assert distinguishable(timings["migr"], timings["slow"]), "the test cannot see one hash"
    suspects = [kind for kind in CLASSES[1:] if distinguishable(timings["migr"], timings[kind])]
    if suspects:
        # A false alarm happens about once in 500 comparisons: measure those classes afresh,
        # and fail only if they stand out again.
        again = measure(walker, ("migr", *suspects), start=3 * SAMPLES)
        suspects = [kind for kind in suspects if distinguishable(again["migr"], again[kind])]
    medians = {kind: sorted(values)[len(values) // 2] * 1000 for kind, values in timings.items()}
    assert not suspects, f"timing tells {suspects} apart from migrated users (medians ms: {medians})"


# -- the answers themselves -----------------------------------------------------------------------
def normalised(response, who: str) -> tuple:
    """The answer with what differs between any two browsers blanked out: the CSRF token, the
    passkey autofill's random challenge and the time left on it, the per-IP rate limit's clock
    (its reset time, and the seconds to it in Retry-After), and the cookies' values (their
    names and attributes stay)."""
    page = html.unescape(response.get_data(as_text=True))
    page = page.replace(form_fields(page)["csrf_token"], "CSRF").replace(who, "WHO")
    page = re.sub(r'"challenge": "[^"]*", "timeout": \d+', "CHALLENGE", page)
    clock = ("X-RateLimit-Reset", "Retry-After")
    headers = tuple(sorted((name, "TIME" if name in clock else value)
                           for name, value in response.headers
                           if name not in ("Set-Cookie", "Content-Length")))
    cookies = tuple(sorted(re.sub(r"=[^;]*", "=VALUE", value, count=1)
                           for value in response.headers.getlist("Set-Cookie")))
    return response.status_code, page, headers, cookies, len(response.get_data())


def test_every_class_gets_the_same_answer(make_app, tmp_path):
    app = build(make_app, tmp_path, users=2)
    answers = {}
    for kind in ("migr", "notm", "unkn", "disa"):
        walker = Walker(app)  # a fresh browser each, as an attacker would use
        response, _elapsed = walker.post(identifier(kind, 1))
        answers[kind] = normalised(response, identifier(kind, 1))
    assert "don't match" in answers["migr"][1]
    assert [kind for kind, answer in answers.items() if answer != answers["migr"]] == []
    # A disabled user with the right password reads like anyone with a wrong one.
    response, _elapsed = Walker(app).post(identifier("disa", 0), RIGHT)
    assert normalised(response, identifier("disa", 0)) == answers["disa"]

    throttled = {}
    for kind in ("thro", "unkn"):
        who = identifier(kind, 1)
        walker = Walker(app)
        for _ in range(THROTTLE_LIMIT + 1):
            response, _elapsed = walker.post(who)
        throttled[kind] = normalised(response, who)
    assert "Too many attempts" in throttled["thro"][1]
    assert throttled["thro"] == throttled["unkn"]


# -- exactly one hash check on every path ---------------------------------------------------------
@pytest.fixture
def hash_checks(monkeypatch):
    """Counts argon2id verifications, Ferry's and the legacy source's alike."""
    calls: list[str] = []
    real = PasswordHasher.verify

    def counting(self, phc, password):
        calls.append(phc)
        return real(self, phc, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return calls


def test_every_path_checks_exactly_one_hash(make_app, tmp_path, hash_checks):
    app = build(make_app, tmp_path, users=3)
    for kind in ("migr", "notm", "unkn", "disa", "thro", "slow"):
        walker = Walker(app)
        hash_checks.clear()
        walker.post(identifier(kind, 2))
        assert len(hash_checks) == 1, (kind, len(hash_checks))
    for kind in ("migr", "notm"):  # and a right password: one check, then the new argon2id hash
        walker = Walker(app)
        hash_checks.clear()
        response = walker.browser.post(identifier=identifier(kind, 1), password=RIGHT)
        assert response.status_code == 303 and len(hash_checks) == 1, (kind, len(hash_checks))


def test_with_a_remote_legacy_idp_the_local_part_is_still_one_hash(make_app, tmp_path, hash_checks):
    with ScriptedIdp() as idp:
        idp.routes["/token"] = Reply(400, {"error": "invalid_grant"})
        remote = {"type": "ropc", "token_url": idp.url("/token"), "client_id": "ferry",
                  "client_secret": "s3cret", "connect_timeout": 2, "read_timeout": 5}
        app = build(make_app, tmp_path, users=2, legacy=remote)
        for kind in ("migr", "notm", "unkn", "thro"):
            walker = Walker(app)
            hash_checks.clear()
            response, _elapsed = walker.post(identifier(kind, 1))
            assert len(hash_checks) == 1, (kind, len(hash_checks))
        # The legacy IDP was asked for the two who have no local password, and only them.
        assert len(idp.calls("/token")) == 2
