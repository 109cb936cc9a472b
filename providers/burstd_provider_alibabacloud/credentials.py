"""Credentials through ``alibabacloud_credentials``' own providers; the library caches STS credentials
(RRSA OIDC, RAM role) and refreshes them before they expire. Nothing here logs or formats a secret."""

from __future__ import annotations

import os
from typing import Any

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.provider import (
    DefaultCredentialsProvider,
    OIDCRoleArnCredentialsProvider,
    ProfileCredentialsProvider,
    StaticAKCredentialsProvider,
    StaticSTSCredentialsProvider,
)

from burstd_provider_alibabacloud.settings import Settings

__all__ = ["ENV_ACCESS_KEY_ID", "ENV_ACCESS_KEY_SECRET", "ENV_SECURITY_TOKEN", "credential_client"]

ENV_ACCESS_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_ACCESS_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
ENV_SECURITY_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"
ENV_ROLE_ARN = "ALIBABA_CLOUD_ROLE_ARN"
ENV_OIDC_PROVIDER_ARN = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"
ENV_OIDC_TOKEN_FILE = "ALIBABA_CLOUD_OIDC_TOKEN_FILE"


def credential_client(settings: Settings, provider: Any = None) -> Any:
    """The credentials client the SDK clients sign with. ``provider``: an ``ICredentialsProvider`` given
    programmatically (tests, embedding), which wins over ``settings.credentials``."""
    if provider is None:
        provider = _provider(settings)
    return CredentialClient(provider=provider)


def _provider(settings: Settings) -> Any:
    mode = settings.credentials
    if mode == "env":
        # Read at construction (the library's env provider reads the environment once, at import).
        key_id, secret = os.environ.get(ENV_ACCESS_KEY_ID), os.environ.get(ENV_ACCESS_KEY_SECRET)
        if not key_id or not secret:
            raise ValueError(
                f"alibabacloud provider: credentials: env needs {ENV_ACCESS_KEY_ID} and "
                f"{ENV_ACCESS_KEY_SECRET} in the environment"
            )
        token = os.environ.get(ENV_SECURITY_TOKEN)
        if token:
            return StaticSTSCredentialsProvider(
                access_key_id=key_id, access_key_secret=secret, security_token=token
            )
        return StaticAKCredentialsProvider(access_key_id=key_id, access_key_secret=secret)
    if mode == "profile":
        return ProfileCredentialsProvider(
            profile_file=settings.profile_file, profile_name=settings.profile_name
        )
    if mode == "oidc":
        missing = [
            name
            for name in (ENV_ROLE_ARN, ENV_OIDC_PROVIDER_ARN, ENV_OIDC_TOKEN_FILE)
            if not os.environ.get(name)
        ]
        if missing:
            raise ValueError(
                f"alibabacloud provider: credentials: oidc (ACK RRSA) needs {', '.join(missing)} in the "
                "environment (ACK injects them into pods of a service account with RRSA enabled)"
            )
        return OIDCRoleArnCredentialsProvider(
            role_arn=os.environ[ENV_ROLE_ARN],
            oidc_provider_arn=os.environ[ENV_OIDC_PROVIDER_ARN],
            oidc_token_file_path=os.environ[ENV_OIDC_TOKEN_FILE],
            role_session_name="burstd",
            sts_endpoint=settings.sts_endpoint,
        )
    return DefaultCredentialsProvider()
