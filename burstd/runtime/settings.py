"""``burstd run`` settings: a YAML file, overridden by ``BURSTD_*`` environment variables, overridden by flags.

Nested keys use ``__`` in the environment: ``BURSTD_KARMADA__CONTEXT=karmada-apiserver``. Durations take the
policy language's units (``15s``, ``2m``). Unknown keys are errors, as in policies.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from burstd.policy.units import Duration, PositiveDuration
from burstd.runtime.settings_file import Origins, SettingsError, read_file

__all__ = [
    "ApiServer",
    "CloudSettings",
    "KillSwitchSettings",
    "LeaderElection",
    "Origins",
    "Settings",
    "SettingsError",
    "load_settings",
    "load_settings_with_origins",
]

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class ApiServer(_Section):
    """How to reach one API server: a kubeconfig (and context), or the pod's in-cluster credentials."""

    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ApiServer:
        if self.in_cluster and (self.kubeconfig is not None or self.context is not None):
            raise ValueError("set either inCluster: true or kubeconfig/context, not both")
        return self

    def describe(self) -> str:
        if self.in_cluster:
            return "in-cluster credentials"
        where = str(self.kubeconfig) if self.kubeconfig else "the default kubeconfig"
        return f"{where}" + (f" (context {self.context})" if self.context else "")


class LeaderElection(_Section):
    enabled: bool = True
    lease_name: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)] = "burstd-leader"
    lease_duration: PositiveDuration = 15.0
    renew_deadline: PositiveDuration = 10.0
    retry_period: PositiveDuration = 2.0

    @model_validator(mode="after")
    def _ordered(self) -> LeaderElection:
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("expected retryPeriod < renewDeadline < leaseDuration")
        return self


class PrometheusSettings(_Section):
    """Where PromQL trigger conditions are evaluated. Required only when a policy uses ``promql``."""

    url: str | None = None
    bearer_token_file: Path | None = None
    ca_file: Path | None = None
    timeout: PositiveDuration = 5.0


def _provider_name(name: str) -> str:
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"provider name {name!r} must be a plugin name such as 'tencentcloud'")
    return name


class CloudSettings(_Section):
    """The cloud providers burstd asks before it scales (quotes, the cloud's instance truth, node pools).

    ``providers`` maps a provider name (``tencentcloud``, ``alibabacloud``, ``fake``: the ``provider:`` of
    pools) to its configuration, given to the provider's constructor with camelCase keys turned into
    snake_case keyword arguments. It may hold credentials: it is never logged nor shown in errors. Pools
    of a provider not listed here are not quoted (a pool with ``price.source: provider`` then never grows).
    """

    providers: dict[Annotated[str, AfterValidator(_provider_name)], dict[str, Any]] = Field(
        default_factory=dict, repr=False
    )
    #: a quote is used for this long after it was taken (then a new one is asked for)
    quote_ttl: Annotated[PositiveDuration, Field(alias="quoteTTL")] = 60.0
    #: how often the cloud's instances of each pool are listed (also right after a pool shrinks)
    instances_interval: PositiveDuration = 300.0
    #: an instance tagged for a pool with no Machine or node-pool member behind it for this long is orphaned
    orphan_grace_period: PositiveDuration = 600.0
    #: terminate orphaned instances (``CloudProvider.terminate``); off: they are only reported
    delete_orphans: bool = False
    #: bound on one call to a cloud provider, its retries included (default: requestTimeout)
    call_timeout: PositiveDuration | None = None

    def config_of(self, name: str) -> dict[str, Any]:
        """The constructor keyword arguments of provider ``name`` (snake_case keys)."""
        return {_snake(key): value for key, value in self.providers.get(name, {}).items()}

    def secret_values(self) -> list[str]:
        """Every string under a key that names a secret (``secretKey``, ``accessKeySecret``, a token, a
        password ...) in the providers' settings, at any depth: for the log filter to redact."""
        out: list[str] = []

        def walk(value: Any, secret: bool) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    walk(item, secret or bool(_SECRET_KEY.search(str(key))))
            elif isinstance(value, list):
                for item in value:
                    walk(item, secret)
            elif secret and isinstance(value, str) and len(value) >= _MIN_SECRET_LEN:
                out.append(value)

        walk(self.providers, False)
        return out


_SECRET_KEY = re.compile(r"secret|password|passwd|token|access_?key|private", re.IGNORECASE)
#: shorter values are not redacted everywhere in the logs (they would blank out ordinary words)
_MIN_SECRET_LEN = 8


def _snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key).lstrip("_")


def _default_address() -> str:
    """The pod's IP (``POD_IP``, set from the Downward API ``status.podIP``), so that the kubelet's probes
    and Prometheus reach burstd while nothing outside the pod network does; else loopback only."""
    return os.environ.get("POD_IP") or "127.0.0.1"


class HttpSettings(_Section):
    """The HTTP server for ``/metrics``, ``/healthz``, ``/readyz`` and (opt-in) ``/debug/decisions``."""

    address: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[^\s/]+$")] = Field(
        default_factory=_default_address
    )
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    #: serve ``/debug/*`` (the last decisions, with their reasons): off unless asked for
    debug: bool = False


class KillSwitchSettings(_Section):
    """The global kill switch: a ConfigMap in burstd's namespace on the management cluster whose
    ``data.paused: "true"`` holds every policy (read by the leader each round; absent: not paused)."""

    config_map: Annotated[
        str, Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    ] = "burstd-control"


def _watch_timeout(seconds: float) -> float:
    if not 1.0 <= seconds <= 3600.0:
        raise ValueError(f"must be between 1s and 1h (a watch's timeoutSeconds), got {seconds:g}s")
    return seconds


def _default_identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BURSTD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=False,
    )

    #: the Karmada control plane (Clusters, FederatedHPAs, ResourceBindings, PropagationPolicies)
    karmada: ApiServer = Field(default_factory=ApiServer)
    #: the Cluster API management cluster (MachineDeployments, MachinePools, Machines); also holds the
    #: burst state ConfigMaps and the leader Lease
    management: ApiServer = Field(default_factory=ApiServer)
    capi_version: Literal["v1beta2", "v1beta1"] = "v1beta2"
    #: policy files or directories (every *.yaml / *.yml inside)
    policies: Annotated[list[Path], Field(min_length=1)] = Field(default_factory=lambda: [Path("policies")])
    namespace: Annotated[str, Field(pattern=DNS_LABEL, max_length=63)] = "burstd-system"
    identity: Annotated[str, Field(min_length=1)] = Field(default_factory=_default_identity)
    dry_run: bool = False
    #: re-evaluate at least this often, for time windows and `for` timers, even with no watch event
    tick_interval: PositiveDuration = 15.0
    #: wait this long after a watch event for more before evaluating (events come in bursts)
    debounce: Duration = 0.5
    #: how long a SIGTERM waits for the step in progress to finish before giving up on it
    shutdown_grace: Duration = 20.0
    #: bound on one request to an API server or to Prometheus (connect, send, read the whole answer)
    request_timeout: PositiveDuration = 10.0
    #: bound on one round of the leader's loop (re-read policies, sample PromQL, evaluate every policy)
    round_timeout: PositiveDuration = 60.0
    #: ``/healthz`` fails when no round completed (a follower: no leader-election attempt) for this long
    max_inactivity: PositiveDuration = 600.0
    #: each watch asks the API server to end it after this long (``timeoutSeconds``), so a quiet resource
    #: is still heard from (the watch's clean end) at least this often; a watch silent for this + 10s is
    #: restarted. Every policy's ``safety.signalMaxAge`` must be above that bound.
    watch_timeout: Annotated[PositiveDuration, AfterValidator(_watch_timeout)] = 15.0
    leader_election: LeaderElection = Field(default_factory=LeaderElection)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    cloud: CloudSettings = Field(default_factory=CloudSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: ``text`` (one human-readable line per record) or ``json`` (one JSON object per line)
    log_format: Literal["text", "json"] = "text"
    kill_switch: KillSwitchSettings = Field(default_factory=KillSwitchSettings)

    @model_validator(mode="after")
    def _timeouts_fit(self) -> Settings:
        """The bounds must nest: a request fits in a round, and a healthy loop completes a round (or, on a
        follower, makes an election attempt) well within ``maxInactivity``."""
        if not self.request_timeout < self.round_timeout:
            raise ValueError(
                f"requestTimeout ({self.request_timeout:g}s) must be shorter than roundTimeout "
                f"({self.round_timeout:g}s): a round must have room for at least one request"
            )
        if self.prometheus.timeout > self.request_timeout:
            raise ValueError(
                f"prometheus.timeout ({self.prometheus.timeout:g}s) must not exceed requestTimeout "
                f"({self.request_timeout:g}s), the bound on each request burstd sends"
            )
        if self.cloud.call_timeout is not None and not self.cloud.call_timeout < self.round_timeout:
            raise ValueError(
                f"cloud.callTimeout ({self.cloud.call_timeout:g}s) must be shorter than roundTimeout "
                f"({self.round_timeout:g}s): the cloud is asked within each round"
            )
        gap = self.round_timeout + self.tick_interval + self.debounce
        le = self.leader_election
        attempt = le.renew_deadline + le.retry_period * 1.2 if le.enabled else 0.0
        if not self.max_inactivity > max(gap, attempt):
            raise ValueError(
                f"maxInactivity ({self.max_inactivity:g}s) must be longer than roundTimeout + tickInterval + "
                f"debounce ({gap:g}s) and than leaderElection.renewDeadline + 1.2 * retryPeriod "
                f"({attempt:g}s): a healthy burstd may go that long between two rounds or election attempts"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, InitSettingsSource(settings_cls, _file_data.get("data") or {}))


# pydantic-settings builds sources in a classmethod; the file's contents reach it through this holder.
_file_data: dict[str, dict[str, Any] | None] = {"data": None}


def load_settings(config_file: Path | None, **overrides: Any) -> Settings:
    """Settings from ``config_file`` (optional), ``BURSTD_*`` variables and ``overrides`` (highest first:
    overrides, environment, file). Raises SettingsError naming the file and the bad fields."""
    return load_settings_with_origins(config_file, **overrides)[0]


def load_settings_with_origins(config_file: Path | None, **overrides: Any) -> tuple[Settings, Origins]:
    """``load_settings``, and where each setting came from (to point later errors at the right place).

    Every error names where the bad value was set: ``FILE:LINE:COL`` in the settings file, the
    ``BURSTD_*`` variable or the flag."""
    given = {k: v for k, v in overrides.items() if v is not None}
    flags = {name: "--" + name.replace("_", "-") for name in given}
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"{config_file}: no such file")
    data, root = read_file(config_file) if config_file is not None else (None, None)
    origins = Origins(str(config_file) if config_file is not None else None, root, flags, dict(os.environ))
    _file_data["data"] = data
    try:
        return Settings(**given), origins
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            message = str(err["msg"]).removeprefix("Value error, ")
            lines.append(origins.describe(err["loc"], message, at_key=err["type"] == "extra_forbidden"))
        raise SettingsError("\n".join(lines)) from None
    finally:
        _file_data["data"] = None
