"""``burstd run`` settings: a YAML file, overridden by ``BURSTD_*`` environment variables, overridden by flags.

Nested keys use ``__`` in the environment: ``BURSTD_KARMADA__CONTEXT=karmada-apiserver``. Durations take the
policy language's units (``15s``, ``2m``). Unknown keys are errors, as in policies.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from burstd.policy.units import Duration

__all__ = ["ApiServer", "LeaderElection", "Settings", "SettingsError", "load_settings"]

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
    lease_duration: Duration = 15.0
    renew_deadline: Duration = 10.0
    retry_period: Duration = 2.0

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
    timeout: Duration = 5.0


class HttpSettings(_Section):
    """The HTTP server for ``/metrics``, ``/healthz``, ``/readyz`` and ``/debug/decisions``."""

    address: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080


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
    tick_interval: Duration = 15.0
    #: wait this long after a watch event for more before evaluating (events come in bursts)
    debounce: Duration = 0.5
    #: how long a SIGTERM waits for the step in progress to finish before giving up on it
    shutdown_grace: Duration = 20.0
    leader_election: LeaderElection = Field(default_factory=LeaderElection)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

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


class SettingsError(Exception):
    """The settings cannot be used; the message names the source and every bad field."""


# pydantic-settings builds sources in a classmethod; the file's contents reach it through this holder.
_file_data: dict[str, dict[str, Any] | None] = {"data": None}


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SettingsError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def load_settings(config_file: Path | None, **overrides: Any) -> Settings:
    """Settings from ``config_file`` (optional), ``BURSTD_*`` variables and ``overrides`` (highest first:
    overrides, environment, file). Raises SettingsError naming the file and the bad fields."""
    where = str(config_file) if config_file is not None else "settings"
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"{config_file}: no such file")
    _file_data["data"] = _read_file(config_file) if config_file is not None else None
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"{where}: {loc}: {err['msg']}")
        raise SettingsError("\n".join(lines)) from None
    finally:
        _file_data["data"] = None
