"""Listing a Cognito pool's users for ``ferry roster pull``: ``listing = true``.

Ferry calls ``ListUsers`` (at most 60 users a page, as Cognito allows) with the signed admin
client of :mod:`connectors.cognito.lookup`: the same AWS credentials and IAM permission
(``cognito-idp:ListUsers`` on the pool), the connector's endpoint, timeouts and single try.
Each page is one guarded call; the cursor is Cognito's ``PaginationToken``.

Each user gives the claims of a sign-in (its attributes, ``sub`` as the subject,
``cognito:username``) mapped by the connector's ``mapping``, plus ``cognito:status``
(``UserStatus``), ``cognito:enabled``, ``cognito:created`` and ``cognito:last_modified``
(``UserCreateDate``, ``UserLastModifiedDate``, ISO 8601) as attributes. ListUsers does not
tell when a user last signed in. Federated profiles (``EXTERNAL_PROVIDER``) are not listed:
they belong to the IdPs they came from, as in the lookup.

A ``PaginationToken`` Cognito no longer takes (``InvalidParameterException``, e.g. a resumed
pull after the token expired) starts the listing over from the first page; storing is
idempotent, so nothing is duplicated.
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any

from connectors.cognito.lookup import FEDERATED
from connectors.listing import ListedPage, ListedUser

if TYPE_CHECKING:
    from connectors.cognito import CognitoConnector

log = logging.getLogger(__name__)
#: ListUsers' largest Limit.
MAX_PAGE = 60


class _TokenRefused(Exception):
    """Cognito would not go on from the PaginationToken it was given."""


class CognitoListing:
    """The listing hooks of the ``cognito`` connector (mixed into it)."""

    def cannot_list(self: CognitoConnector) -> str | None:  # type: ignore[misc]
        """None with ``listing = true`` (or ``lookup = true``): the admin client exists."""
        if self.admin_api is None:
            return ("set listing = true (ListUsers needs AWS credentials allowed "
                    "cognito-idp:ListUsers on the pool)")
        return None

    def list_page(self: CognitoConnector, cursor: str | None,  # type: ignore[misc]
                  size: int) -> ListedPage:
        """One ``ListUsers`` page (see the module docstring)."""
        try:
            answer = _list_users(self, cursor, size)
            restarted = False
        except _TokenRefused:
            log.warning("connector %s: Cognito refused the saved PaginationToken; listing again "
                        "from the first page", self.name)
            answer, restarted = _list_users(self, None, size), True
        users = answer.get("Users")
        if not isinstance(users, list) or not all(isinstance(user, dict) for user in users):
            raise self.unavailable("ListUsers answered without a list of Users")
        token = answer.get("PaginationToken")
        listed = [_listed(self, user) for user in users if user.get("UserStatus") != FEDERATED]
        return ListedPage(listed, token if isinstance(token, str) and token else None, restarted)


def _list_users(connector: CognitoConnector, cursor: str | None, size: int) -> dict[str, Any]:
    admin = connector.admin_api
    assert admin is not None
    params: dict[str, Any] = {"UserPoolId": connector.settings.user_pool_id,
                              "Limit": max(1, min(size, MAX_PAGE))}
    if cursor:
        params["PaginationToken"] = cursor

    def refuse(code: str, message: str) -> None:
        if cursor and code == "InvalidParameterException":
            raise _TokenRefused()
        admin.refuse(code, message)

    return connector.call("list_users", refuse, client=admin.client, **params)


def _listed(connector: CognitoConnector, user: dict[str, Any]) -> ListedUser:
    identity = connector.profile("ListUsers", user, "Attributes")
    attributes = {**identity.claims, "cognito:status": user.get("UserStatus"),
                  "cognito:enabled": user.get("Enabled"),
                  "cognito:created": _iso(user.get("UserCreateDate")),
                  "cognito:last_modified": _iso(user.get("UserLastModifiedDate"))}
    attributes = {key: value for key, value in attributes.items() if value is not None}
    return ListedUser.from_claims(identity.subject, identity.claims, connector.mapping,
                                  attributes=attributes)


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value if isinstance(value, str) else None
