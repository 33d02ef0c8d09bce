"""Every table of Ferry (peewee models), importable from one place."""

from models.audit import AuditEvent
from models.base import db, utcnow
from models.grants import ClientAssertion, ConsentGrant, LogoutDelivery, RefreshToken
from models.journeys import JourneyResume, JourneyRun
from models.oauth import AuthorizationCode, OAuthClient, SigningKey, Token, UserSession
from models.otp import OtpCode
from models.passkeys import PasskeyCredential
from models.pins import EnrollmentOffer, PinCredential
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
]

__all__ = [
    "ALL_MODELS",
    "AuditEvent",
    "AuthorizationCode",
    "ClientAssertion",
    "ConsentGrant",
    "EnrollmentOffer",
    "JourneyResume",
    "JourneyRun",
    "LegacyLink",
    "LogoutDelivery",
    "OAuthClient",
    "OtpCode",
    "PasskeyCredential",
    "PasswordCredential",
    "PinCredential",
    "RefreshToken",
    "SigningKey",
    "Token",
    "User",
    "UserSession",
    "db",
    "utcnow",
]
