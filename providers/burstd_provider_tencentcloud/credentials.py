"""Where the provider's SecretId/SecretKey(/token) come from, through the SDK's own credential classes.

The SDK clients sign each request with ``credential.get_credential_info()``, synchronously, on the event
loop. The TKE pod-identity credential (``OIDCRoleArnCredential``) refreshes itself inside that call with a
blocking HTTPS request to STS, so :class:`SigningCredential` hands the clients a snapshot instead and
:meth:`SigningCredential.refresh` (awaited before every request) lets the SDK refresh in a worker thread.
The SDK refreshes an OIDC credential when 90 % of its lifetime has passed, i.e. before it expires (and
re-reads the projected token file each time); a credentials file is read again whenever it changes (a
Kubernetes Secret rotated in place).

Nothing here logs or formats a secret: errors name the source and the variable or file, never its value.
"""

from __future__ import annotations

import asyncio
import configparser
import os
from pathlib import Path
from typing import Any, Protocol

from tencentcloud.common.credential import (
    Credential,
    DefaultTkeOIDCRoleArnProvider,
    EnvironmentVariableCredential,
    ProfileCredential,
)
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)

from burstd.cloud.provider import AuthFailed, ProviderError, Unavailable
from burstd_provider_tencentcloud.config import CredentialsConfig
from burstd_provider_tencentcloud.errors import PROVIDER_NAME, class_for, error_code

__all__ = ["SESSION_TOKEN_ENV", "SigningCredential", "make_credential"]

SESSION_TOKEN_ENV = "TENCENTCLOUD_SESSION_TOKEN"
_OIDC_ENV = ("TKE_REGION", "TKE_PROVIDER_ID", "TKE_WEB_IDENTITY_TOKEN_FILE", "TKE_ROLE_ARN")


class _Source(Protocol):
    def get_credential_info(self) -> tuple[str, str, str | None]: ...


class SigningCredential:
    """What the SDK clients sign with: a snapshot of the source's credential, refreshed off the loop."""

    def __init__(self, source: _Source, *, blocking_refresh: bool, description: str) -> None:
        self._source = source
        self._blocking = blocking_refresh
        self.description = description
        self._info: tuple[str, str, str | None] | None = None
        if not blocking_refresh:
            self._info = source.get_credential_info()

    def __repr__(self) -> str:  # never the secret, whatever formats this object
        return f"SigningCredential({self.description})"

    async def refresh(self) -> None:
        """Make sure the snapshot is valid; raises AuthFailed / Unavailable (never a secret)."""
        if not self._blocking:
            return
        try:
            self._info = await asyncio.to_thread(self._source.get_credential_info)
        except TencentCloudSDKException as exc:
            code = error_code(exc) or "Unknown"
            cls = class_for(code)
            kind: type[ProviderError] = Unavailable if cls is Unavailable else AuthFailed
            raise kind(
                f"{self.description}: STS AssumeRoleWithWebIdentity failed (RequestId {exc.get_request_id()})",
                provider=PROVIDER_NAME,
                code=code,
            ) from None
        except OSError as exc:
            # requests' connection errors are OSErrors; so is an unreadable token file (its path is no secret)
            unreachable = type(exc).__module__.startswith(("requests", "urllib3"))
            kind = Unavailable if unreachable else AuthFailed
            raise kind(
                f"{self.description}: cannot get credentials: {type(exc).__name__}", provider=PROVIDER_NAME
            ) from None

    def secrets(self) -> tuple[str, ...]:
        """The current secret parts, for blanking them from any message (never for showing)."""
        return tuple(part for part in self._info or () if part)

    def get_credential_info(self) -> tuple[str, str, str | None]:
        """Called by the SDK (synchronously) when it signs a request."""
        if self._info is None:
            raise TencentCloudSDKException("ClientSideError", f"{self.description}: credentials not fetched")
        return self._info


def _from_env() -> SigningCredential:
    credential = EnvironmentVariableCredential().get_credential()
    if credential is None:
        raise ValueError(
            "tencentcloud provider: credentials source 'env' needs TENCENTCLOUD_SECRET_ID and "
            "TENCENTCLOUD_SECRET_KEY in the environment (and TENCENTCLOUD_SESSION_TOKEN for temporary keys)"
        )
    token = os.environ.get(SESSION_TOKEN_ENV) or None
    if token is not None:
        credential = Credential(credential.secret_id, credential.secret_key, token)
    return SigningCredential(credential, blocking_refresh=False, description="credentials from env")


def _from_file(config: CredentialsConfig) -> SigningCredential:
    if config.path is None:
        if config.profile != "default":
            raise ValueError(
                "tencentcloud provider: credentials 'profile' other than 'default' needs 'path' "
                "(the SDK's own lookup reads only [default])"
            )
        credential = ProfileCredential().get_credential()
        if credential is None:
            raise ValueError(
                "tencentcloud provider: credentials source 'file' found no [default] secret_id/secret_key in "
                "~/.tencentcloud/credentials or /etc/tencentcloud/credentials"
            )
        return SigningCredential(credential, blocking_refresh=False, description="credentials file")
    source = _CredentialsFile(config.path, config.profile)
    source.load()  # a missing file or profile is an error now, at load, not at the first call
    return SigningCredential(
        source, blocking_refresh=True, description=f"credentials file [{config.profile}]"
    )


class _CredentialsFile:
    """An INI credentials file (``secret_id``, ``secret_key``, optional ``token``), read again whenever it
    changes: a mounted Secret rotated in place (temporary keys) takes effect at the next call."""

    def __init__(self, path: Path, profile: str) -> None:
        self._path = path
        self._profile = profile
        self._stamp: tuple[int, int, int] | None = None
        self._credential: Any = None

    def load(self) -> None:
        where = f"tencentcloud provider: credentials file {str(self._path)!r}"
        parser = configparser.ConfigParser(interpolation=None)
        try:
            stat = self._path.stat()
            with self._path.open(encoding="utf-8") as handle:
                parser.read_file(handle)
        except OSError as exc:
            raise ValueError(f"{where} cannot be read: {type(exc).__name__}: {exc.strerror}") from None
        except configparser.Error as exc:
            raise ValueError(f"{where} is not an INI file ({type(exc).__name__})") from None
        if not parser.has_section(self._profile):
            raise ValueError(f"{where} has no [{self._profile}] section")
        section = parser[self._profile]
        secret_id = section.get("secret_id", "").strip().strip('"')
        secret_key = section.get("secret_key", "").strip().strip('"')
        token = section.get("token", "").strip().strip('"') or None
        if not secret_id or not secret_key:
            raise ValueError(f"{where}: [{self._profile}] needs secret_id and secret_key")
        self._credential = Credential(secret_id, secret_key, token)
        self._stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def get_credential_info(self) -> tuple[str, str, str | None]:
        """Runs in a worker thread (SigningCredential.refresh)."""
        try:
            stat = self._path.stat()
            if (stat.st_ino, stat.st_mtime_ns, stat.st_size) != self._stamp:
                self.load()
        except (OSError, ValueError):
            if self._credential is None:
                raise
            # mid-rotation (file briefly missing or half written): sign with the last good keys
        info: tuple[str, str, str | None] = self._credential.get_credential_info()
        return info


def _from_oidc(config: CredentialsConfig) -> SigningCredential:
    missing = [name for name in _OIDC_ENV if not os.environ.get(name)]
    if missing:
        raise ValueError(
            "tencentcloud provider: credentials source 'oidc' (TKE pod identity) needs "
            f"{', '.join(missing)} in the environment (set by the TKE pod identity webhook)"
        )
    try:
        credential: Any = DefaultTkeOIDCRoleArnProvider().get_credential()
    except OSError as exc:
        raise ValueError(
            f"tencentcloud provider: TKE pod identity: {type(exc).__name__}: {exc.strerror or exc}"
        ) from None
    if config.sts_endpoint:
        credential.endpoint = config.sts_endpoint
    return SigningCredential(credential, blocking_refresh=True, description="TKE pod identity (OIDC)")


def make_credential(config: CredentialsConfig) -> SigningCredential:
    """The credential for ``config``; ``ValueError`` naming what is missing (never a value)."""
    try:
        if config.source == "env":
            return _from_env()
        if config.source == "file":
            return _from_file(config)
        return _from_oidc(config)
    except TencentCloudSDKException as exc:  # the SDK's own checks (empty key, spaces in a key)
        raise ValueError(
            f"tencentcloud provider: credentials source {config.source!r}: {exc.get_message()}"
        ) from None
