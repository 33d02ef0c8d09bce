"""``create_user``: provision the local user from the legacy identity, in one transaction.

Settings: ``store_password`` (default true: keep an argon2id hash of the password just checked
by the legacy IDP, so the next sign-in needs no legacy IDP; never for a connector in mode
``sync``, whose users' passwords stay at the legacy side: a hash kept from an earlier mode is
dropped, so it cannot outlive a password changed there); ``link_verified_email`` (default
false: when another local user owns the e-mail, link to them only if this IdP says the e-mail
is verified; turn it on only for IdPs whose verification you trust). Outcomes: ``created``,
``linked`` (already migrated, or linked by that policy), ``conflict`` (another local user owns
the e-mail: nothing changes; route it to ``link_account`` to let them prove it is theirs),
``closed`` (an operator deleted the user of this legacy identity and did not allow it back:
nobody is created; unrouted it takes ``conflict``'s route).
"""

from __future__ import annotations

import authenticators
import connectors
from connectors import ExternalIdentity
from journeys.errors import JourneyBroken
from journeys.results import Done, Result
from journeys.steps._attempt import spent_on_new_hash
from journeys.steps.base import Step, StepSettings
from models import PasswordCredential, User
from security.audit import record
from users.mapping import map_claims
from users.provisioning import provision


class CreateUserSettings(StepSettings):
    store_password: bool = True
    link_verified_email: bool = False


class CreateUserStep(Step):
    type = "create_user"
    Settings = CreateUserSettings
    settings: CreateUserSettings
    outcomes = ("created", "linked", "conflict", "closed")
    optional_outcomes = {"closed": "conflict"}

    def enter(self, run) -> Result:
        data = run.context.get("external_identity")
        if not data:
            raise JourneyBroken(f"{self.journey}.{self.name}: no legacy identity to create from")
        identity = ExternalIdentity.from_context(data)
        connector = connectors.get(identity.connector)
        password_hash = None
        if self.settings.store_password and connector.settings.migration != "sync":
            password = run.transient.get("password")
            # Hash before the transaction: argon2 must not run while holding a write lock.
            # After a legacy MFA page the password is gone; its hash was kept instead.
            password_hash = (authenticators.get("password").hash(password) if password
                             else run.context.pop("password_hash", None))
            if password:
                spent_on_new_hash(run)
        result = provision(identity, connector.mapping, password_hash,
                           link_verified_email=self.settings.link_verified_email)
        if result.outcome == "closed":
            record("user.closed", client_id=run.client_id, connector=identity.connector,
                   subject=identity.subject)
            return Done("closed")
        if result.user is None:
            run.context["conflict_email"] = map_claims(identity.claims, connector.mapping).get("email")
            record("user.conflict", client_id=run.client_id, connector=identity.connector,
                   subject=identity.subject)
            return Done("conflict")
        if connector.settings.migration == "sync":
            PasswordCredential.delete().where(PasswordCredential.user == result.user.id).execute()
        if run.context.pop("email_proved", False) and not result.user.email_verified:
            # Ferry itself proved the address (a one-time code reached it): say so.
            User.update(email_verified=True).where(User.id == result.user.id).execute()
            result.user.email_verified = True
        proved_phone = run.context.pop("phone_proved", None)
        if proved_phone and result.user.phone == proved_phone and not result.user.phone_verified:
            # Likewise for the phone a code reached by SMS, if it is the one the user now has.
            User.update(phone_verified=True).where(User.id == result.user.id).execute()
            result.user.phone_verified = True
        # How the legacy side proved it: a password (and its MFA), or a federated sign-in.
        run.set_user(result.user, *run.context.pop("legacy_amr", ["pwd"]))
        event = "user.migrated" if result.outcome == "created" else "user.relinked"
        record(event, user_id=result.user.id, client_id=run.client_id,
               connector=identity.connector)
        return Done(result.outcome)
