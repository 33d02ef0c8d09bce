"""Every table of Ferry (peewee models), importable from one place."""

from models.audit import AuditEvent
from models.base import db, utcnow
from models.config_store import (
    AdminAccount,
    AdminPasskey,
    AdminSession,
    ConfigObject,
    ConfigRevision,
    ConfigState,
)
from models.grants import ClientAssertion, ConsentGrant, LogoutDelivery, RefreshToken
from models.journeys import JourneyResume, JourneyRun
from models.lifecycle import LegacyCall, RosterEntry
from models.oauth import AuthorizationCode, OAuthClient, SigningKey, Token, UserSession
from models.otp import OtpCode
from models.passkeys import PasskeyCredential
from models.pins import EnrollmentOffer, PinCredential
from models.tombstones import LegacyTombstone
from models.users import LegacyLink, PasswordCredential, UniqueAttribute, User

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
    JourneyResume,
    AuditEvent,
    PasskeyCredential,
    OtpCode,
    PinCredential,
    EnrollmentOffer,
    RefreshToken,
    ConsentGrant,
    ClientAssertion,
    LogoutDelivery,
    ConfigObject,
    ConfigRevision,
    ConfigState,
    AdminAccount,
    AdminPasskey,
    AdminSession,
    LegacyTombstone,
    RosterEntry,
    LegacyCall,
    UniqueAttribute,
]

__all__ = [
    "ALL_MODELS",
    "AdminAccount",
    "AdminPasskey",
    "AdminSession",
    "ConfigObject",
    "ConfigRevision",
    "ConfigState",
    "AuditEvent",
    "AuthorizationCode",
    "ClientAssertion",
    "ConsentGrant",
    "EnrollmentOffer",
    "JourneyResume",
    "JourneyRun",
    "LegacyCall",
    "LegacyLink",
    "LegacyTombstone",
    "LogoutDelivery",
    "OAuthClient",
    "OtpCode",
    "PasskeyCredential",
    "PasswordCredential",
    "PinCredential",
    "RefreshToken",
    "RosterEntry",
    "SigningKey",
    "Token",
    "UniqueAttribute",
    "User",
    "UserSession",
    "db",
    "utcnow",
]
