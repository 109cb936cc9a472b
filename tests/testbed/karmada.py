"""A real Karmada v1.18.2 control plane for the tests: etcd + kube-apiserver playing karmada-apiserver,
with every upstream Karmada CRD, and the real ``karmada-webhook``, ``karmada-scheduler`` and
``karmada-controller-manager`` (built by ``scripts/testenv/build-karmada.sh``).

What is special about running them on a plain kube-apiserver:

- ``cluster.karmada.io/v1alpha1`` Cluster is served by Karmada's aggregated apiserver in production; here
  it is the test-only CRD ``tests/integration/crds/cluster.karmada.io_clusters.yaml`` (the scheduler and
  the controller-manager only need the API, not the aggregated apiserver's proxy).
- The webhook serves with the plane's own serving certificate (``server.crt``/``server.key``, valid for
  127.0.0.1); the upstream ``webhook-configuration.yaml`` is registered with every ``clientConfig.url``
  pointed at ``https://127.0.0.1:<port><path>`` and the plane's CA as ``caBundle``. Without the webhook,
  PropagationPolicies get no ``propagationpolicy.karmada.io/permanent-id`` label and the detector cannot
  tell which policy owns a binding.
- The ``clusterStatus`` controller is off (see ``DEFAULT_CONTROLLERS``): member clusters are Push-mode
  Cluster objects whose status the harness writes (``testbed.clusters``). There is no
  kube-controller-manager, so nothing garbage-collects (a ResourceBinding outlives its deleted template
  unless deleted itself) and no namespace is ever finalized: deleting a Cluster hangs (the cluster
  controller waits for its execution namespace ``karmada-es-<name>`` to be gone). Use new names instead.

Readiness is proven, not assumed: after the health endpoints answer, a canary PropagationPolicy must get
its permanent-id label from the webhook, and the canary Deployment it selects must get a ResourceBinding
from the detector that the scheduler has tried to schedule (a ``Scheduled`` condition). The canary objects
are deleted again before the plane is handed out.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration.controlplane import (
    TEST_CRD_DIR,
    ControlPlane,
    ControlPlaneError,
    load_crds,
    start_control_plane,
)
from ruamel.yaml import YAML

from testbed.binaries import find_controller_binaries
from testbed.processes import ControllerProcess, free_port, http_ok, https_listening

__all__ = [
    "DEFAULT_CONTROLLERS",
    "KARMADA_SYSTEM",
    "PERMANENT_ID_LABEL",
    "KarmadaPlane",
    "plane_rss",
    "start_karmada",
]

DEFAULT_CONTROLLERS: tuple[str, ...] = (
    "cluster",  # execution namespaces, NotReady/Unreachable taints from the Ready condition
    "binding",  # ResourceBinding -> Works
    "bindingStatus",  # Works' status -> binding status (aggregatedStatus, FullyApplied)
    "gracefulEviction",
    "applicationFailover",
    "workloadRebalancer",  # WorkloadRebalancer -> rescheduleTriggeredAt on bindings
)
"""``karmada-controller-manager --controllers``. ``clusterStatus`` is deliberately absent: it would
probe the (nonexistent) member API servers and overwrite the status the harness writes. The resource
detector (template + PropagationPolicy -> ResourceBinding) always runs; it is not a controller name."""

KARMADA_SYSTEM = "karmada-system"
PERMANENT_ID_LABEL = "propagationpolicy.karmada.io/permanent-id"
WEBHOOK, SCHEDULER, CONTROLLER_MANAGER = "karmada-webhook", "karmada-scheduler", "karmada-controller-manager"
_CANARY = "burstd-testbed-canary"
_CANARY_NAMESPACE = "default"  # the detector ignores karmada-system (a reserved namespace)
_READY_TIMEOUT = float(os.environ.get("BURSTD_TESTENV_START_TIMEOUT", "90"))


@dataclass
class KarmadaPlane:
    """A running Karmada control plane."""

    plane: ControlPlane
    """The karmada-apiserver (``plane.kubeconfig`` is an admin kubeconfig for it)."""
    processes: dict[str, ControllerProcess]
    """``karmada-webhook``, ``karmada-scheduler``, ``karmada-controller-manager``."""
    start_s: float = 0.0
    """Wall time from nothing to every controller proven ready (canary scheduled and cleaned up)."""
    webhook_port: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per start-up phase: ``apiserver`` (etcd + kube-apiserver + CRDs), ``processes`` (until the
    health endpoints answer), ``canary`` (webhook admits, detector binds, scheduler schedules)."""

    def check_alive(self) -> None:
        """Raise ``ControlPlaneError`` (with the log's tail) if a controller has exited."""
        for proc in self.processes.values():
            proc.check_alive()

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory per process now: the three controllers, ``kube-apiserver`` and ``etcd``."""
        out = {name: proc.rss_bytes() for name, proc in self.processes.items()}
        out.update(plane_rss(self.plane))
        return out


@contextlib.contextmanager
def start_karmada(*, controllers: Sequence[str] = DEFAULT_CONTROLLERS) -> Iterator[KarmadaPlane]:
    """Start the Karmada control plane, prove it works, yield it; always tear everything down.

    Raises ``ControlPlaneError`` when a binary is missing or a component does not become ready.
    """
    started = time.monotonic()
    binaries = find_controller_binaries()
    karmada_dir = binaries.karmada_dir

    def crds() -> list[dict[str, Any]]:
        return load_crds([karmada_dir / "crds", TEST_CRD_DIR], recursive=True)

    with start_control_plane(crds=crds) as plane, contextlib.ExitStack() as stack:
        phases = {"apiserver": time.monotonic() - started}
        _ok(plane, "POST", "/api/v1/namespaces", {"metadata": {"name": KARMADA_SYSTEM}})
        certs = plane.workdir / "karmada-webhook-certs"
        certs.mkdir()
        shutil.copyfile(plane.workdir / "server.crt", certs / "tls.crt")
        shutil.copyfile(plane.workdir / "server.key", certs / "tls.key")
        kubeconfig = f"--kubeconfig={plane.kubeconfig}"
        launches = [
            _Launch(
                WEBHOOK,
                lambda port: [
                    str(binaries.karmada(WEBHOOK)),
                    kubeconfig,
                    "--bind-address=127.0.0.1",
                    f"--secure-port={port}",
                    f"--cert-dir={certs}",
                ],
                lambda port, _health: https_listening(port),
            ),
            _Launch(
                SCHEDULER,
                lambda _port: [
                    str(binaries.karmada(SCHEDULER)),
                    kubeconfig,
                    "--leader-elect=false",
                    "--enable-scheduler-estimator=false",
                    "--v=2",
                ],
                lambda _port, health: http_ok(f"http://127.0.0.1:{health}/healthz"),
            ),
            _Launch(
                CONTROLLER_MANAGER,
                lambda _port: [
                    str(binaries.karmada(CONTROLLER_MANAGER)),
                    kubeconfig,
                    "--leader-elect=false",
                    f"--controllers={','.join(controllers)}",
                    "--v=2",
                ],
                lambda _port, health: http_ok(f"http://127.0.0.1:{health}/healthz"),
            ),
        ]
        running = {launch.name: launch.start(plane.workdir, stack) for launch in launches}  # all at once
        for launch in launches:  # then wait for each in turn
            for attempt in range(3):
                proc, _, probe = running[launch.name]
                try:
                    proc.wait_ready(probe, timeout=_READY_TIMEOUT)
                    break
                except ControlPlaneError as exc:  # a free port taken before the process bound it
                    if "address already in use" not in str(exc) or attempt == 2:
                        raise
                    running[launch.name] = launch.start(plane.workdir, stack)
        procs = {name: proc for name, (proc, _, _) in running.items()}
        webhook_port = running[WEBHOOK][1]
        _register_webhooks(plane, karmada_dir / "webhook-configuration.yaml", webhook_port)
        phases["processes"] = time.monotonic() - started - phases["apiserver"]
        karmada = KarmadaPlane(plane, procs, webhook_port=webhook_port, phases=phases)
        _prove_ready(karmada)
        phases["canary"] = time.monotonic() - started - phases["apiserver"] - phases["processes"]
        karmada.start_s = time.monotonic() - started
        yield karmada


@dataclass
class _Launch:
    """How to start one controller: its arguments for a serving port (the webhook's), and its probe."""

    name: str
    argv: Callable[[int], list[str]]
    probe: Callable[[int, int], Callable[[], bool]]
    """(serving port, health port) -> probe."""

    def start(
        self, workdir: Path, stack: contextlib.ExitStack
    ) -> tuple[ControllerProcess, int, Callable[[], bool]]:
        """Start it on fresh loopback ports (metrics and health probes too); stopped when ``stack`` closes."""
        port, metrics, health = free_port(), free_port(), free_port()
        argv = [
            *self.argv(port),
            f"--metrics-bind-address=127.0.0.1:{metrics}",
            f"--health-probe-bind-address=127.0.0.1:{health}",
        ]
        proc = ControllerProcess(self.name, argv, workdir / f"{self.name}.log")
        stack.callback(proc.stop)
        return proc.start(), port, self.probe(port, health)


# --------------------------------------------------------------------------------------------------
# raw API calls (the fixture does not depend on the client it helps to test)


def _ok(plane: ControlPlane, method: str, path: str, body: Any = None) -> Any:
    status, answer = plane.request(method, path, body)
    if status >= 300:
        raise ControlPlaneError(f"{method} {path}: HTTP {status}: {answer}")
    return answer


def _register_webhooks(plane: ControlPlane, path: Path, port: int) -> None:
    """Register the upstream webhook configurations, each webhook's url moved to 127.0.0.1:``port``."""
    ca = base64.b64encode(plane.ca_file.read_bytes()).decode()
    text = path.read_text().replace("{{caBundle}}", ca)  # the template's placeholder (not YAML as is)
    yaml = YAML(typ="safe", pure=True)
    for doc in yaml.load_all(text):
        if not doc:
            continue
        for hook in doc.get("webhooks") or []:
            config = hook["clientConfig"]
            service = config.pop("service", None)
            where = service.get("path", "/") if service else urllib.parse.urlparse(config["url"]).path
            config["url"] = f"https://127.0.0.1:{port}{where}"
            config["caBundle"] = ca
        plural = f"{doc['kind'].lower()}s"  # mutatingwebhookconfigurations, validatingwebhookconfigurations
        _ok(plane, "POST", f"/apis/admissionregistration.k8s.io/v1/{plural}", doc)


def _wait(
    what: str, karmada: KarmadaPlane, check: Callable[[], bool], timeout: float = _READY_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        karmada.check_alive()
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {n}:\n{p.tail(15)}" for n, p in karmada.processes.items())
            raise ControlPlaneError(f"Karmada not ready: {what} within {timeout:.0f} s\n{tails}")
        time.sleep(0.05)


def _prove_ready(karmada: KarmadaPlane) -> None:
    """The webhook admits (the canary policy gets its permanent-id label), the detector binds the canary
    Deployment and the scheduler tries to schedule the binding (it has no cluster to go to: the canary
    affinity names none that exists); then the canary objects are deleted and their binding is gone."""
    plane = karmada.plane
    ns = f"/namespaces/{_CANARY_NAMESPACE}"
    pp_path = f"/apis/policy.karmada.io/v1alpha1{ns}/propagationpolicies"
    deploy_path = f"/apis/apps/v1{ns}/deployments"
    rb_path = f"/apis/work.karmada.io/v1alpha2{ns}/resourcebindings"
    policy = {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": _CANARY},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": _CANARY}],
            "placement": {"clusterAffinity": {"clusterNames": [f"{_CANARY}-no-such-cluster"]}},
        },
    }

    def labelled() -> bool:
        status, pp = plane.request("GET", f"{pp_path}/{_CANARY}")
        if status == 404:
            _ok(plane, "POST", pp_path, policy)
            return False
        if PERMANENT_ID_LABEL in ((pp or {}).get("metadata") or {}).get("labels", {}):
            return True
        # Created before the apiserver loaded the webhook configuration: an update is mutated too.
        stamp = {"metadata": {"annotations": {"burstd.io/testbed-probe": str(time.monotonic())}}}
        plane.request("PATCH", f"{pp_path}/{_CANARY}", stamp, content_type="application/merge-patch+json")
        return False

    _wait("the webhook labels a PropagationPolicy", karmada, labelled)
    _ok(plane, "POST", deploy_path, _canary_deployment())

    def scheduled() -> bool:
        status, listed = plane.request("GET", rb_path)
        for rb in (listed or {}).get("items", []) if status == 200 else []:
            if rb["spec"]["resource"]["name"] == _CANARY:
                conds = (rb.get("status") or {}).get("conditions") or []
                return any(c.get("type") == "Scheduled" for c in conds)
        return False

    _wait("the detector binds a Deployment and the scheduler schedules it", karmada, scheduled)
    _ok(plane, "DELETE", f"{pp_path}/{_CANARY}")
    _ok(plane, "DELETE", f"{deploy_path}/{_CANARY}")
    status, listed = plane.request("GET", rb_path)
    for rb in (listed or {}).get("items", []) if status == 200 else []:
        plane.request("DELETE", f"{rb_path}/{rb['metadata']['name']}")

    def gone() -> bool:
        status, listed = plane.request("GET", rb_path)
        return status == 200 and not listed.get("items")

    _wait("the canary ResourceBinding is deleted (binding controller finalizer)", karmada, gone)


def _canary_deployment() -> dict[str, Any]:
    labels = {"app": _CANARY}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": _CANARY, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "registry.invalid/canary:0"}]},
            },
        },
    }


# --------------------------------------------------------------------------------------------------
# memory of etcd and kube-apiserver (started by integration.controlplane, which keeps their pids)


def plane_rss(plane: ControlPlane) -> dict[str, int]:
    """VmRSS of the plane's etcd and kube-apiserver: the processes whose command line names its workdir."""
    marker = str(plane.workdir).encode()
    names = {plane.binaries.etcd.name: "etcd", plane.binaries.kube_apiserver.name: "kube-apiserver"}
    out: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if not argv or marker not in b" ".join(argv):
            continue
        name = names.get(Path(argv[0].decode(errors="replace")).name)
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if name and match:
            out[name] = int(match.group(1)) * 1024
    return out


_plane_rss = plane_rss  # the name testbed.member imports
