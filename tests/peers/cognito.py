"""A Cognito user pool for tests: moto's server (``moto.server``) as a subprocess on loopback.

:class:`MotoCognito` starts the server, and builds pools, app clients and users in it through
the same admin API an operator would use on AWS::

    with MotoCognito() as cognito:
        pool = cognito.pool()                                   # a pool + a client with a secret
        pool.user("alice@example.com", "Pass-word-1", email="alice@example.com")
        pool.totp_user("tina@example.com", "Pass-word-1")       # enrolled in TOTP MFA
        code = pool.totp_code()                                 # what her authenticator shows
        with cognito.frozen(): ...                              # the server hangs (SIGSTOP)

What moto's Cognito does, checked against its source (moto 5.2):

* ``USER_PASSWORD_AUTH``: a wrong password is ``NotAuthorizedException`` "Incorrect username or
  password.", an unknown user ``UserNotFoundException``, a disabled one ``NotAuthorizedException``
  "User is disabled.", an unconfirmed sign-up ``UserNotConfirmedException``, a user still on
  the temporary password of ``AdminCreateUser`` the ``NEW_PASSWORD_REQUIRED`` challenge.
* It does **not** check ``SECRET_HASH`` on ``InitiateAuth`` (AWS does), but it does on
  ``RespondToAuthChallenge`` for the MFA challenges. It does not enforce the client's
  ``ExplicitAuthFlows`` and has no ``PasswordResetRequiredException``.
* MFA: ``SOFTWARE_TOKEN_MFA`` after ``AssociateSoftwareToken`` + ``VerifySoftwareToken`` +
  ``SetUserMFAPreference``; with ``MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP=true`` (set here) the
  code is a real RFC 6238 TOTP of the secret ``AssociateSoftwareToken`` returned (moto uses one
  secret for everybody), checked in the current 30-second step only; a wrong one is
  ``CodeMismatchException`` and leaves the session usable. ``SMS_MFA`` accepts any code. An
  unknown or spent session is ``ResourceNotFoundException`` (AWS: ``NotAuthorizedException``).
* AWS credentials: moto takes any until :meth:`MotoCognito.enforce_iam`; from then on it checks
  SigV4 signatures and IAM policies of the keys :meth:`MotoCognito.iam_keys` made, except for
  the public operations (``InitiateAuth``, ``GetUser``, ``SignUp``...; not
  ``RespondToAuthChallenge``). Its refusals come as XML with status 403 (``InvalidClientTokenId``,
  ``SignatureDoesNotMatch``, ``AccessDenied``) where AWS answers JSON with status 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import boto3
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from tests.peers import processes

REGION = "eu-west-1"
TOTP_STEP = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MotoCognito:
    """moto's server on 127.0.0.1 (a free port), stopped by its PID."""

    def __init__(self, startup_timeout: float = 30.0) -> None:
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen | None = None

    def start(self) -> MotoCognito:
        env = {**os.environ, "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",
               "PYTHONWARNINGS": "ignore"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=1):
                    break
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.05)
        self.admin = boto3.client(
            "cognito-idp", region_name=REGION, endpoint_url=self.url,
            aws_access_key_id="testing", aws_secret_access_key="testing",  # moto takes any
        )
        return self

    def close(self) -> None:
        if self._proc is None:
            return
        processes.stop(self._proc)
        self._proc = None

    def __enter__(self) -> MotoCognito:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def iam_keys(self, *actions: str) -> tuple[str, str]:
        """An IAM user allowed ``actions`` (e.g. ``cognito-idp:ListUsers``): its key id and secret.

        Call before :meth:`enforce_iam`: IAM calls need keys too once it is on.
        """
        name = f"ferry-{uuid.uuid4().hex[:8]}"
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=self.url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        iam.create_user(UserName=name)
        if actions:
            iam.put_user_policy(UserName=name, PolicyName="allowed", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def enforce_iam(self) -> None:
        """From now on signatures and IAM policies count, as at AWS; ``admin`` may do anything."""
        key_id, secret = self.iam_keys("cognito-idp:*")
        request = urllib.request.Request(self.url + "/moto-api/reset-auth", data=b"0",
                                         method="POST", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=5):
            pass
        self.admin = boto3.client("cognito-idp", region_name=REGION, endpoint_url=self.url,
                                  aws_access_key_id=key_id, aws_secret_access_key=secret)

    def frozen(self) -> AbstractContextManager[None]:
        """The server takes connections and never answers (SIGSTOP), until the block ends."""
        return processes.frozen(self._proc)

    def pool(self, **settings: Any) -> Pool:
        """A user pool with an app client (with a secret) allowed USER_PASSWORD_AUTH."""
        pool_id = self.admin.create_user_pool(PoolName=f"legacy-{uuid.uuid4().hex[:8]}",
                                              **settings)["UserPool"]["Id"]
        created = Pool(self, pool_id)
        created.client_id, created.client_secret = created.app_client(secret=True)
        return created


@dataclass
class Pool:
    cognito: MotoCognito
    id: str
    client_id: str = ""
    client_secret: str | None = None
    totp_secret: str | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    subs: dict[str, str] = field(default_factory=dict)

    @property
    def admin(self):
        return self.cognito.admin

    def app_client(self, secret: bool) -> tuple[str, str | None]:
        client = self.admin.create_user_pool_client(
            UserPoolId=self.id, ClientName="ferry", GenerateSecret=secret,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]
        return client["ClientId"], client.get("ClientSecret")

    def user(self, username: str, password: str, permanent: bool = True, **attributes: str) -> str:
        """Create a user (AdminCreateUser); ``permanent`` sets the password for good. Its sub."""
        attributes = {"email": username, "email_verified": "true", **attributes}
        self.admin.admin_create_user(
            UserPoolId=self.id, Username=username, MessageAction="SUPPRESS",
            TemporaryPassword=password,
            UserAttributes=[{"Name": k, "Value": v} for k, v in attributes.items()],
        )
        if permanent:
            self.admin.admin_set_user_password(UserPoolId=self.id, Username=username,
                                               Password=password, Permanent=True)
        self.passwords[username] = password
        found = self.admin.admin_get_user(UserPoolId=self.id, Username=username)
        self.subs[username] = next(a["Value"] for a in found["UserAttributes"] if a["Name"] == "sub")
        return self.subs[username]

    def disabled_user(self, username: str, password: str, **attributes: str) -> None:
        self.user(username, password, **attributes)
        self.admin.admin_disable_user(UserPoolId=self.id, Username=username)

    def unconfirmed_user(self, username: str, password: str) -> None:
        """A self-service sign-up never confirmed (SignUp through the app client)."""
        self.admin.sign_up(ClientId=self.client_id, Username=username, Password=password,
                           SecretHash=self.secret_hash(username),
                           UserAttributes=[{"Name": "email", "Value": username}])
        self.passwords[username] = password

    def totp_user(self, username: str, password: str, **attributes: str) -> None:
        """A user who enrolled an authenticator app, the way an app does it for them."""
        self.user(username, password, **attributes)
        tokens = self.admin.admin_initiate_auth(
            UserPoolId=self.id, ClientId=self.client_id, AuthFlow="ADMIN_NO_SRP_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password,
                            "SECRET_HASH": self.secret_hash(username)},
        )["AuthenticationResult"]
        access = tokens["AccessToken"]
        self.totp_secret = self.admin.associate_software_token(AccessToken=access)["SecretCode"]
        self.admin.verify_software_token(AccessToken=access, UserCode=self.totp_code())
        self.admin.set_user_mfa_preference(
            AccessToken=access, SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})

    def sms_user(self, username: str, password: str, **attributes: str) -> None:
        self.user(username, password, phone_number="+15555550100", **attributes)
        self.admin.admin_set_user_mfa_preference(
            UserPoolId=self.id, Username=username,
            SMSMfaSettings={"Enabled": True, "PreferredMfa": True})

    def totp_code(self, offset_steps: int = 0) -> str:
        """The code an authenticator app shows now (``offset_steps`` 30-second steps away).

        Waits for the next step when this one ends within 3 s, so the server checks the code
        in the step it was made for.
        """
        if (TOTP_STEP - time.time() % TOTP_STEP) < 3:
            time.sleep(TOTP_STEP - time.time() % TOTP_STEP + 0.1)
        secret = self.totp_secret + "=" * (-len(self.totp_secret) % 8)
        totp = TOTP(base64.b32decode(secret, casefold=True), 6, SHA1(),  # noqa: S303 (RFC 6238)
                    TOTP_STEP, enforce_key_length=False)
        return totp.generate(time.time() + offset_steps * TOTP_STEP).decode()

    def secret_hash(self, username: str) -> str:
        """AWS's documented recipe, written out again here so the connector's own is checked."""
        message = (username + self.client_id).encode()
        digest = hmac.new(self.client_secret.encode(), message, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()
