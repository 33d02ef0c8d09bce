"""The contract every password connector keeps, as a test class to subclass.

A connector module's tests subclass :class:`PasswordConnectorContract` and provide one fixture,
``contract_case``, returning a :class:`ContractCase` built against a real (or, for a SaaS that
cannot run here, a faithfully faked) legacy IDP::

    class TestAcmeContract(PasswordConnectorContract):
        @pytest.fixture
        def contract_case(self, app, acme_server):
            return ContractCase(
                connector=build_connector(app, {"type": "acme", "url": acme_server.url}),
                identifier="alice@example.com", password=acme_server.password("alice"),
                wrong_password="not-her-password", unknown_identifier="nobody@example.com",
                expected_email="alice@example.com", outage=acme_server.stopped,
            )

What the contract holds every connector to:

* the good pair gives an :class:`ExternalIdentity` with a non-empty subject that is the same on
  every sign-in, and claims that the connector's own mapping turns into the user's e-mail;
* a wrong password and an unknown identifier both raise :class:`InvalidCredentials` (the
  unknown one may be its subclass :class:`UserNotFound`), with no message (no enumeration);
* a legacy side that is down raises :class:`LegacyUnavailable` with a reason for the operator,
  and is logged at WARNING or above;
* no log record, at any level, contains the password (or the case's other ``secrets``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import pytest

import connectors
from connectors import ExternalIdentity, InvalidCredentials, LegacyUnavailable, PasswordConnector
from users.mapping import map_claims


def build_connector(app, table: dict, name: str = "legacy") -> PasswordConnector:
    """Build one connector instance from its settings table, as Ferry does at start-up."""
    with app.app_context():
        connector = connectors.build_connectors({name: table}, app.config)[name]
    assert isinstance(connector, PasswordConnector), f"{table['type']} does not check passwords"
    return connector


@dataclass
class ContractCase:
    """One connector instance and what its legacy IDP knows."""

    connector: PasswordConnector
    identifier: str  # as the journey hands it over: normalised
    password: str
    wrong_password: str
    unknown_identifier: str
    expected_email: str  # what the mapped claims of ``identifier`` must give
    outage: Callable[[], AbstractContextManager[None]]  # the legacy side is down inside it
    secrets: tuple[str, ...] = ()  # more strings no log record may contain (client secrets...)


def log_text(records: list[logging.LogRecord]) -> str:
    """Everything the records would put in a log, at any level, tracebacks included."""
    lines = []
    for record in records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            lines.append(record.exc_text)
    return "\n".join(lines)


class PasswordConnectorContract:
    """Subclass as ``Test<Type>Contract`` and provide the ``contract_case`` fixture."""

    @pytest.fixture
    def contract_case(self) -> Iterator[ContractCase]:
        raise NotImplementedError("a connector's contract test provides contract_case")

    def test_good_pair_gives_a_stable_subject_and_a_mappable_email(self, contract_case):
        case = contract_case
        first = case.connector.verify(case.identifier, case.password)
        second = case.connector.verify(case.identifier, case.password)

        assert isinstance(first, ExternalIdentity)
        assert first.connector == case.connector.name
        assert isinstance(first.subject, str) and first.subject.strip()
        assert second.subject == first.subject
        assert map_claims(first.claims, case.connector.mapping).get("email") == case.expected_email

    def test_wrong_password_is_invalid_credentials(self, contract_case):
        case = contract_case
        with pytest.raises(InvalidCredentials):
            case.connector.verify(case.identifier, case.wrong_password)

    def test_unknown_identifier_reads_exactly_like_a_wrong_password(self, contract_case):
        case = contract_case
        with pytest.raises(InvalidCredentials) as wrong:
            case.connector.verify(case.identifier, case.wrong_password)
        with pytest.raises(InvalidCredentials) as unknown:
            case.connector.verify(case.unknown_identifier, case.wrong_password)
        # A connector that can tell may raise UserNotFound (an InvalidCredentials) for the
        # unknown user so a journey can fall back to the next source; users still read the same
        # words (journeys/steps/messages.py), and the exception carries no detail either way.
        assert str(unknown.value) == str(wrong.value) == ""

    def test_legacy_side_down_is_legacy_unavailable(self, contract_case):
        case = contract_case
        with case.outage(), pytest.raises(LegacyUnavailable) as down:
            case.connector.verify(case.identifier, case.password)
        assert down.value.reason.strip()
        assert case.password not in down.value.reason

    def test_nothing_secret_is_logged(self, contract_case, caplog):
        case = contract_case
        caplog.set_level(logging.DEBUG)
        case.connector.verify(case.identifier, case.password)
        for identifier, password in ((case.identifier, case.wrong_password),
                                     (case.unknown_identifier, case.password)):
            with pytest.raises(InvalidCredentials):
                case.connector.verify(identifier, password)
        with case.outage(), pytest.raises(LegacyUnavailable):
            case.connector.verify(case.identifier, case.password)

        # The outage must reach the operator's log, which also proves the capture works.
        assert any(r.levelno >= logging.WARNING for r in caplog.records), "outage not logged"
        logged = log_text(caplog.records)
        for secret in (case.password, case.wrong_password, *case.secrets):
            assert secret not in logged
