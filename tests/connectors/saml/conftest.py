"""Fixtures of the ``saml`` connector's tests: the corpus IdP, and Ferry with it as
``corp-saml`` (``saml_app(**settings)``, or ``app`` with the defaults)."""

from __future__ import annotations

import pytest

from tests.connectors.saml_corpus import (
    CorpusIdp,
    saml_deployment,
)


@pytest.fixture
def idp() -> CorpusIdp:
    return CorpusIdp()


@pytest.fixture
def saml_app(make_app, idp):
    """``saml_app(**settings)``: Ferry with the corpus IdP as ``corp-saml``, by inline metadata
    unless ``idp_metadata_url`` or ``idp_metadata_xml`` is given (None leaves a key out)."""

    def build(**settings):
        table = {"type": "saml", "display_name": "Corp SSO", **settings}
        if not {"idp_metadata_url", "idp_metadata_xml"} & settings.keys():
            table["idp_metadata_xml"] = idp.metadata()
        table = {key: value for key, value in table.items() if value is not None}
        return make_app(DEPLOYMENT=saml_deployment(table))

    return build


@pytest.fixture
def app(saml_app):
    return saml_app()
