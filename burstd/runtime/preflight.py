"""Checks ``burstd run`` makes before it connects anywhere, and the secrets its logs must never show.

Every problem found here would otherwise surface later as a traceback (after API clients were opened): a
Prometheus bearer token or CA file that cannot be read, an ``http.address`` that does not resolve, an
``http.port`` already taken. Each is reported where it was set (``FILE:LINE:COL``, ``BURSTD_*`` or a flag).
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from burstd.policy.yamlvalues import os_reason
from burstd.runtime.settings import ApiServer, Origins, Settings

__all__ = ["Preflight", "check"]

#: a credential file is small; more than this is not a token or a kubeconfig
MAX_CREDENTIAL_BYTES = 1 * 2**20
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
#: kubeconfig ``user`` fields that hold credentials
_CREDENTIAL_FIELDS = ("token", "password", "client-key-data")


@dataclass(slots=True)
class Preflight:
    problems: list[str] = field(default_factory=list)
    #: credentials found (the Prometheus token, kubeconfig tokens/passwords/keys): redacted from the logs
    secrets: list[str] = field(default_factory=list)


def check(settings: Settings, origins: Origins) -> Preflight:
    out = Preflight()
    _prometheus(settings, origins, out)
    _http(settings, origins, out)
    for server in (settings.karmada, settings.management):
        out.secrets.extend(_kube_secrets(server))
    out.secrets.extend(settings.cloud.secret_values())  # anything secret-looking in cloud.providers
    return out


def _read(path: Path) -> bytes:
    with path.open("rb") as file:
        data = file.read(MAX_CREDENTIAL_BYTES + 1)
    if len(data) > MAX_CREDENTIAL_BYTES:
        raise ValueError(f"larger than {MAX_CREDENTIAL_BYTES // 2**20} MiB")
    return data


def _reason(exc: Exception) -> str:
    return os_reason(exc) if isinstance(exc, OSError) else str(exc)


def _prometheus(settings: Settings, origins: Origins, out: Preflight) -> None:
    p = settings.prometheus
    if p.bearer_token_file is not None:
        loc = ("prometheus", "bearerTokenFile")
        try:
            token = _read(p.bearer_token_file).decode("utf-8").strip()
        except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            out.problems.append(origins.describe(loc, f"cannot read {p.bearer_token_file}: {_reason(exc)}"))
        else:
            if not token:
                out.problems.append(origins.describe(loc, f"{p.bearer_token_file} is empty"))
            out.secrets.append(token)
    if p.ca_file is not None:
        try:
            _read(p.ca_file)
        except (OSError, ValueError) as exc:
            out.problems.append(
                origins.describe(("prometheus", "caFile"), f"cannot read {p.ca_file}: {_reason(exc)}")
            )


def _http(settings: Settings, origins: Origins, out: Preflight) -> None:
    address, port = settings.http.address, settings.http.port
    try:
        found = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        out.problems.append(
            origins.describe(
                ("http", "address"),
                f"cannot resolve {address!r}: {reason}; use an IP address of this host "
                "(the default is $POD_IP, else 127.0.0.1)",
            )
        )
        return
    if port == 0:
        return
    for family, kind, proto, _, sockaddr in found:
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the HTTP server does
                probe.bind(sockaddr)
        except OSError as exc:
            out.problems.append(
                origins.describe(
                    ("http", "port"), f"cannot listen on {address}:{port}: {exc.strerror or exc}"
                )
            )
            return


def _kube_secrets(server: ApiServer) -> list[str]:
    """The credentials in the kubeconfig (or the ServiceAccount token) ``server`` uses; [] if unreadable
    (connecting reports that)."""
    if server.in_cluster:
        with contextlib.suppress(OSError, ValueError):
            return [_read(SERVICE_ACCOUNT_TOKEN).decode("utf-8").strip()]
        return []
    paths: list[Path] = []
    if server.kubeconfig is not None:
        paths.append(server.kubeconfig)
    else:
        paths.extend(Path(p) for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p)
        if not paths:
            paths.append(Path.home() / ".kube" / "config")
    secrets: list[str] = []
    for path in paths:
        try:
            document: Any = YAML(typ="safe").load(_read(path).decode("utf-8"))
        except Exception:
            continue
        users = document.get("users") if isinstance(document, dict) else None
        for entry in users if isinstance(users, list) else []:
            user = entry.get("user") if isinstance(entry, dict) else None
            if isinstance(user, dict):
                secrets.extend(str(user[k]) for k in _CREDENTIAL_FIELDS if isinstance(user.get(k), str))
    return secrets
