"""Every table of Ferry (peewee models), importable from one place."""

from models.audit import AuditEvent
from models.base import db, utcnow
from models.journeys import JourneyRun
from models.oauth import AuthorizationCode, OAuthClient, SigningKey, Token, UserSession
from models.users import LegacyLink, PasswordCredential, User

ALL_MODELS = [
    User,
    LegacyLink,
    PasswordCredential,
    OAuthClient,
    AuthorizationCode,
    Token,
    SigningKey,
    UserSession,
    JourneyRun,
    AuditEvent,
]

__all__ = [
    "ALL_MODELS",
    "AuditEvent",
    "AuthorizationCode",
    "JourneyRun",
    "LegacyLink",
    "OAuthClient",
    "PasswordCredential",
    "SigningKey",
    "Token",
    "User",
    "UserSession",
    "db",
    "utcnow",
]
