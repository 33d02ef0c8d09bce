"""A browser at Ferry for the ``saml`` connector's tests (:class:`Federation`), the page texts
it expects, and the checks every refused answer must pass."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as Saml
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from models import AuditEvent, LegacyLink, User, db
from tests.conftest import SignIn
from tests.connectors.conftest import current_step, page_text
from tests.connectors.saml_corpus import (
    CONNECTOR,
    CorpusIdp,
    Request,
    encode,
)

ACS = f"http://localhost/federate/{CONNECTOR}/callback"
SP_ENTITY_ID = f"http://localhost/federate/{CONNECTOR}/metadata"
REJECTED = "We could not verify the answer from Corp SSO, so we did not use it."
REFUSED = "Signing in with Corp SSO was cancelled or refused."
UNAVAILABLE = "We can't reach Corp SSO right now"



class Federation:
    """One browser at Ferry: starts sign-ins at the IdP and posts answers to the ACS."""

    def __init__(self, app) -> None:
        self.app = app
        self.walker = SignIn(app.test_client())
        self.redirect: str | None = None

    def start(self) -> Request:
        """authorize -> sign-in page -> "Continue with Corp SSO" -> the IdP's redirect URL."""
        self.walker.start()
        answer = self.walker.post(federate=CONNECTOR)
        assert answer.status_code in (302, 303), page_text(answer)[:500]
        self.redirect = answer.headers["Location"]
        query = parse_qs(urlsplit(self.redirect).query)
        request = etree.fromstring(OneLogin_Saml2_Utils.decode_base64_and_inflate(
            query["SAMLRequest"][0]))
        return Request(request_id=request.get("ID"), acs=request.get("AssertionConsumerServiceURL"),
                       audience=request.findtext(f"{{{Saml.NS_SAML}}}Issuer"),
                       relay_state=query["RelayState"][0])

    def answer(self, encoded: str | None, relay_state: str | None, **extra: str):
        """The IdP's form posted to the ACS; returns (ACS answer, page it leads to)."""
        form = {key: value for key, value in
                {"SAMLResponse": encoded, "RelayState": relay_state, **extra}.items()
                if value is not None}
        callback = self.walker.client.post(f"/federate/{CONNECTOR}/callback", data=form)
        if callback.status_code != 303:
            return callback, None
        page = self.walker.client.get(callback.headers["Location"])
        if page.status_code == 200:
            self.walker.page = page
        return callback, page


def snapshot(app) -> tuple[list[dict], list[dict]]:
    """Every user and legacy link, all columns: what a refused answer must not touch."""
    with app.app_context(), db.connection_context():
        return list(User.select().dicts()), list(LegacyLink.select().dicts())


def audit(app, event: str) -> list[dict]:
    with app.app_context(), db.connection_context():
        return [row.details for row in
                AuditEvent.select().where(AuditEvent.event == event).order_by(AuditEvent.id)]


def assert_refused(app, federation: Federation, encoded: str, request: Request,
                   *reasons: str) -> str:
    """``encoded`` is refused: clear page, audited with one of ``reasons``, nothing changed."""
    before = snapshot(app)
    rejections = len(audit(app, "federation.rejected"))
    callback, page = federation.answer(encoded, request.relay_state)
    assert callback.status_code == 303
    assert page.status_code == 200, page_text(page)[:500]
    assert REJECTED in page_text(page)
    assert current_step(federation.walker) == "collect"  # back at the sign-in page, not signed in
    recorded = audit(app, "federation.rejected")
    assert len(recorded) == rejections + 1
    reason = recorded[-1]["reason"]
    assert any(expected in reason for expected in reasons), reason
    assert snapshot(app) == before
    return reason


def migrate_alice(app, idp: CorpusIdp, **assertion) -> Federation:
    federation = Federation(app)
    request = federation.start()
    callback, page = federation.answer(encode(idp.signed(request, **assertion)),
                                       request.relay_state)
    assert page.status_code in (302, 303) and page.headers["Location"].startswith(
        "http://localhost:8000/callback?code="), page_text(page)[:800]
    return federation
