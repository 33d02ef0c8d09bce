"""``[connectors.<name>]`` of ``type = "cognito"``: the user pool and app client, validated at
start-up (the connector itself is ``connectors/cognito/``)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from connectors.cognito.lookup import CognitoLookupSettings


class CognitoSettings(CognitoLookupSettings):
    user_pool_id: str = Field(pattern=r"^[\w-]+_[0-9a-zA-Z]+$",
                              description="The user pool, e.g. eu-west-1_AbCdEf123.")
    client_id: str = Field(pattern=r"^[\w+]+$", max_length=128,
                           description="The app client allowed USER_PASSWORD_AUTH.")
    client_secret: str | None = Field(None, description="The app client's secret, if it has one.")
    region: str | None = Field(None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$",
                               description="The pool's region (default: user_pool_id's prefix).")
    endpoint_url: str | None = Field(None, description="Another Cognito endpoint (VPC, tests).")

    @field_validator("endpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _region_of_the_pool(self) -> CognitoSettings:
        pool_region = self.user_pool_id.partition("_")[0]
        if self.region is not None and self.region != pool_region:
            raise ValueError(f"region {self.region!r} is not the region of user_pool_id "
                             f"({pool_region!r})")
        return self

    @property
    def pool_region(self) -> str:
        return self.region or self.user_pool_id.partition("_")[0]
