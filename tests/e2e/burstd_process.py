"""``burstd run`` as a real child process, with exactly the RBAC of ``deploy/`` (never the admin token).

``grant_deploy_rbac`` binds ``deploy/rbac-karmada.yaml`` on the Karmada plane and
``deploy/rbac-management.yaml`` on the management plane, each to that plane's unprivileged user;
``BurstdProcess`` writes a settings file, starts ``python -m burstd run --config FILE`` with one kubeconfig
per API server (each with that server's unprivileged user), and offers SIGTERM/SIGKILL, the log, and the
HTTP endpoints.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from integration.controlplane import ControlPlane
from ruamel.yaml import YAML

from .fleet import Fleet
from .planes import Planes

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _post(plane: ControlPlane, path: str, body: dict[str, Any]) -> None:
    status, answer = plane.request("POST", path, body)
    if status not in (201, 409):
        raise AssertionError(f"POST {path}: HTTP {status}: {answer}")


def grant_deploy_rbac(planes: Planes, burstd_namespace: str) -> None:
    """Bind ``deploy/``'s roles to each plane's unprivileged user: ``rbac-karmada.yaml`` on the Karmada
    plane only, ``rbac-management.yaml`` (its Role in ``burstd_namespace``) on the management plane only."""
    _grant(planes.karmada, DEPLOY / "rbac-karmada.yaml", burstd_namespace)
    _grant(planes.management, DEPLOY / "rbac-management.yaml", burstd_namespace)


def grant_cost_report_rbac(planes: Planes, burstd_namespace: str) -> None:
    """Bind ``deploy/rbac-cost-report.yaml`` (read the state ConfigMaps) to the management plane's
    unprivileged user, as whoever runs ``burstd cost report`` is bound."""
    _grant(planes.management, DEPLOY / "rbac-cost-report.yaml", burstd_namespace)


def _grant(plane: ControlPlane, file: Path, burstd_namespace: str) -> None:
    """Create the ClusterRoles and Roles of ``file`` on ``plane`` and bind them to its unprivileged user
    (the ClusterRoles cluster-wide, the Roles in ``burstd_namespace``)."""
    yaml = YAML(typ="safe")
    user = {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": plane.unprivileged_user}
    for doc in yaml.load_all(file.read_text()):
        name = doc["metadata"]["name"]
        if doc["kind"] == "ClusterRole":
            _post(plane, "/apis/rbac.authorization.k8s.io/v1/clusterroles", doc)
            binding = {
                "metadata": {"name": f"{name}-test"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [user],
            }
            _post(plane, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)
        else:
            assert doc["kind"] == "Role", doc["kind"]
            doc["metadata"]["namespace"] = burstd_namespace
            base = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{burstd_namespace}"
            _post(plane, f"{base}/roles", doc)
            binding = {
                "metadata": {"name": name, "namespace": burstd_namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [user],
            }
            _post(plane, f"{base}/rolebindings", binding)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class BurstdProcess:
    """One ``burstd run`` child process for ``fleet`` (``start()``, ``terminate()``, ``kill()``)."""

    def __init__(
        self,
        planes: Planes,
        fleet: Fleet,
        workdir: Path,
        policy_yaml: str,
        *,
        identity: str = "burstd-a",
        dry_run: bool = False,
        tick: str = "1s",
        settings: dict[str, Any] | None = None,
        debug_endpoints: bool = False,
    ) -> None:
        self.planes = planes
        self.fleet = fleet
        self.identity = identity
        self.workdir = workdir / identity
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = self.workdir / "burstd.log"
        # each API server with its own unprivileged user: a mix-up is a 401, not a silent success
        karmada = planes.karmada.write_kubeconfig(
            self.workdir / "karmada.kubeconfig", token=planes.karmada.unprivileged_token
        )
        management = planes.management.write_kubeconfig(
            self.workdir / "management.kubeconfig", token=planes.management.unprivileged_token
        )
        policy = self.workdir / "policy.yaml"
        policy.write_text(policy_yaml)
        settings = {
            "karmada": {"kubeconfig": str(karmada)},
            "management": {"kubeconfig": str(management)},
            "policies": [str(policy)],
            "namespace": fleet.burstd_namespace,
            "identity": identity,
            "dryRun": dry_run,
            "tickInterval": tick,
            "debounce": "100ms",
            "shutdownGrace": "10s",
            "watchTimeout": "5s",  # a quiet fleet is heard from every 5 s (signalMaxAge is 30s)
            "leaderElection": {"leaseDuration": "4s", "renewDeadline": "3s", "retryPeriod": "500ms"},
            "http": {"address": "127.0.0.1", "port": self.port, "debug": debug_endpoints},
            "logLevel": "INFO",
            **(settings or {}),
        }
        self.config = self.workdir / "burstd.yaml"
        self.config.write_text(json.dumps(settings, indent=2))
        self.proc: subprocess.Popen[bytes] | None = None
        #: environment variables added to the child's (e.g. libfaketime's, for a skewed wall clock)
        self.extra_env: dict[str, str] = {}

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another ``burstd`` command with this process's settings file and environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BURSTD_")}
        env.update(self.extra_env)
        return subprocess.run(
            [sys.executable, "-m", "burstd", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.workdir,
            timeout=60,
            check=False,
        )

    def start(self, *extra: str) -> BurstdProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BURSTD_")}
        env.update(self.extra_env)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "burstd", "run", "--config", str(self.config), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait for the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything (a crash)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def close(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    async def aget(self, path: str) -> tuple[int, str]:
        return await asyncio.to_thread(self.get, path)

    def metric(self, name: str, **labels: str) -> float | None:
        """The value of one sample on ``/metrics`` (None when absent or the server is not up)."""
        status, text = self.get("/metrics")
        if status != 200:
            return None
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            sname, _, rest = series.partition("{")
            if sname != name:
                continue
            got = ",".join(sorted(p for p in rest.rstrip("}").split(",") if p))
            if got == wanted:
                return float(value)
        return None

    def wait_exit(self, timeout: float) -> int | None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                return code
            time.sleep(0.05)
        return None
