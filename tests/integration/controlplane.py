"""A real test control plane: etcd + kube-apiserver on loopback, with the upstream CRDs installed.

Like controller-runtime's envtest, but from Python: both binaries are real (built by
``scripts/testenv/ensure.sh``), the apiserver runs with ``--authorization-mode=RBAC`` and a static-token
admin, and the Karmada (v1.18.2) and Cluster API (v1.14.0) CRDs from ``<repo>/../shared/crds`` are
installed plus the test-only ``cluster.karmada.io`` Cluster CRD in ``tests/integration/crds``.

Only the standard library, ruamel.yaml and the ``openssl`` command are used here, so the fixture does not
depend on the Kubernetes client it is meant to test.

Environment:
  KUBE_APISERVER, ETCD          paths of the binaries (else ``scripts/testenv/ensure.sh --check`` finds them)
  BURSTD_SHARED                 the shared/ directory (default ``<repo>/../shared``)
  BURSTD_TESTENV_BUILD=1        let the fixture run ``ensure.sh`` to build/install missing binaries
  BURSTD_TESTENV_KEEP=1         keep the work directory (logs, certs, etcd data) after the session
  BURSTD_TESTENV_START_TIMEOUT  seconds to wait for each server to become ready (default 90)
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENSURE_SCRIPT = REPO / "scripts" / "testenv" / "ensure.sh"
TEST_CRD_DIR = HERE / "crds"


class ControlPlaneError(RuntimeError):
    """The test control plane could not be started (the message says why and what to do)."""


def shared_dir() -> Path:
    return Path(os.environ.get("BURSTD_SHARED") or REPO.parent / "shared").resolve()


def crd_dirs() -> list[Path]:
    """The CRD directories installed, in order: Karmada release CRDs, Cluster API, test-only CRDs."""
    shared = shared_dir()
    return [shared / "crds" / "karmada" / "release-v1.18.2", shared / "crds" / "capi", TEST_CRD_DIR]


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    etcd: Path


@dataclass
class Timings:
    etcd_ready_s: float = 0.0
    apiserver_ready_s: float = 0.0
    crds_established_s: float = 0.0
    crd_count: int = 0


@dataclass(frozen=True)
class ControlPlane:
    """What a test needs to talk to the running apiserver."""

    server: str
    """``https://127.0.0.1:<port>``."""
    token: str
    """Bearer token of ``admin`` (group ``system:masters``)."""
    kubeconfig: Path
    """Admin kubeconfig (CA embedded, token auth)."""
    ca_file: Path
    unprivileged_user: str
    """A user with no RBAC bindings at all (for 403 tests: bind roles to it as needed)."""
    unprivileged_token: str
    etcd_url: str
    workdir: Path
    binaries: Binaries
    timings: Timings = field(compare=False)

    def write_kubeconfig(
        self, path: Path, *, token: str | None = None, context: str = "burstd-testenv"
    ) -> Path:
        """Write another kubeconfig for this server (e.g. with ``unprivileged_token``)."""
        _write_kubeconfig(path, self.server, self.ca_file, token or self.token, context)
        return path

    def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        """A raw admin API call (for fixtures and assertions that must not go through the client)."""
        return _api(self.server, self.token, _ssl_context(self.ca_file), method, path, body, content_type)


# --------------------------------------------------------------------------------------------------
# binaries


def find_binaries() -> Binaries:
    """KUBE_APISERVER/ETCD from the environment, else the cached ones ``ensure.sh`` reports.

    Never skips: a missing binary raises ControlPlaneError with the command that provides it.
    """
    kube, etcd = os.environ.get("KUBE_APISERVER"), os.environ.get("ETCD")
    how = "from $KUBE_APISERVER/$ETCD"
    if not (kube and etcd):
        stdout, how = run_testenv_script(ENSURE_SCRIPT, ["--base"], _missing_message)
        found = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
        kube = kube or found.get("KUBE_APISERVER")
        etcd = etcd or found.get("ETCD")
    missing = [
        f"{name}={value!r}"
        for name, value in (("KUBE_APISERVER", kube), ("ETCD", etcd))
        if not value or not os.access(value, os.X_OK)
    ]
    if missing or not kube or not etcd:
        raise ControlPlaneError(_missing_message(f"not executable ({how}): {', '.join(missing)}"))
    return Binaries(Path(kube), Path(etcd))


def run_testenv_script(script: Path, args: list[str], missing: Callable[[str], str]) -> tuple[str, str]:
    """Run a ``scripts/testenv`` script with ``--check`` (or, with ``BURSTD_TESTENV_BUILD=1``, let it build,
    its progress shown: a cold build takes minutes); its stdout and how it was asked (for messages).
    A failure raises ControlPlaneError with ``missing(detail)``: tests ERROR, never skip."""
    build = os.environ.get("BURSTD_TESTENV_BUILD") == "1"
    argv = ["bash", str(script), *args] + ([] if build else ["--check"])
    how = f"from `{' '.join(argv[1:])}`"
    try:
        out = subprocess.run(
            argv, check=False, stdout=subprocess.PIPE, stderr=None if build else subprocess.PIPE,
            text=True, timeout=3600,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ControlPlaneError(f"could not run {script}: {exc}") from exc
    if out.returncode != 0:
        raise ControlPlaneError(missing((out.stderr or "see the build output above").strip()))
    return out.stdout, how


def _missing_message(detail: str) -> str:
    in_ci = bool(os.environ.get("CI"))
    where = (
        "CI must provide them: .ci/run has to run `scripts/testenv/ensure.sh` before pytest "
        "(a missing binary is a failure in CI, never a skip)."
        if in_ci
        else "Run `export $(scripts/testenv/ensure.sh)` once (the first build of kube-apiserver takes "
        "~10-15 min on 2 cores; later runs reuse ~/.cache/burstd-testenv), or set BURSTD_TESTENV_BUILD=1 "
        "to let pytest build them."
    )
    return f"test control plane binaries (kube-apiserver, etcd) are missing.\n{detail}\n{where}"


# --------------------------------------------------------------------------------------------------
# processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(argv: list[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    # setpriv (util-linux) execs the server with PR_SET_PDEATHSIG: if pytest dies without tearing down
    # (SIGKILL, CI timeout), the kernel kills the server too instead of leaving it holding its port.
    setpriv = shutil.which("setpriv")
    prefix = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    with log.open("wb") as fh:
        return subprocess.Popen(
            [*prefix, *argv],
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=None if env is None else {**os.environ, **env},
        )


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _PortInUse(ControlPlaneError):
    pass


def _wait(what: str, proc: subprocess.Popen[bytes], log: Path, ready: Any, timeout: float) -> float:
    """Poll ``ready()`` until it returns True; fail if the process exits or the timeout passes."""
    start = time.monotonic()
    while True:
        if proc.poll() is not None:
            text = _tail(log)
            err = _PortInUse if "address already in use" in text else ControlPlaneError
            raise err(f"{what} exited with code {proc.returncode} before it was ready; log {log}:\n{text}")
        with contextlib.suppress(OSError, ssl.SSLError, urllib.error.URLError, ValueError):
            if ready():
                return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise ControlPlaneError(f"{what} not ready after {timeout:.0f} s; log {log}:\n{_tail(log)}")
        time.sleep(0.05)


def _etcd_version(etcd: Path) -> tuple[int, int]:
    out = subprocess.run([str(etcd), "--version"], check=False, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.lower().startswith("etcd version:"):
            major, minor = line.split(":", 1)[1].strip().split(".")[:2]
            return int(major), int(minor)
    raise ControlPlaneError(f"cannot read the version of {etcd}: {out!r}")


def _start_etcd(etcd: Path, work: Path, timeout: float) -> tuple[subprocess.Popen[bytes], str, float]:
    client, peer = _free_port(), _free_port()
    url = f"http://127.0.0.1:{client}"
    argv = [
        str(etcd),
        "--name=burstd-testenv",
        f"--data-dir={work / 'etcd-data'}",
        f"--listen-client-urls={url}",
        f"--advertise-client-urls={url}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=burstd-testenv=http://127.0.0.1:{peer}",
        "--initial-cluster-state=new",
        "--quota-backend-bytes=2147483648",
        # One member on loopback: elect at once instead of after the default 1 s election timeout.
        "--heartbeat-interval=10",
        "--election-timeout=100",
        "--log-level=warn",
    ]
    if _etcd_version(etcd) >= (3, 5):
        argv.append("--unsafe-no-fsync")  # test data: durability is not needed, speed is
    else:
        argv.append("--logger=zap")
    log = work / "etcd.log"
    proc = _spawn(argv, log)

    def healthy() -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return bool(json.loads(resp.read()).get("health") == "true")

    try:
        took = _wait("etcd", proc, log, healthy, timeout)
    except BaseException:
        _stop(proc)
        raise
    return proc, url, took


def _openssl(*args: str, cwd: Path) -> None:
    res = subprocess.run(["openssl", *args], cwd=cwd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args)} failed: {res.stderr.strip()}")


def _make_pki(work: Path) -> None:
    """CA, serving cert for 127.0.0.1/localhost, service-account signing key (EC P-256: instant)."""
    if shutil.which("openssl") is None:
        raise ControlPlaneError(
            "the `openssl` command is needed to make the test certificates (apt-get install openssl)"
        )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=burstd-testenv-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=work)  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver", cwd=work
    )
    (work / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=work)  # fmt: skip
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "sa.key", cwd=work
    )
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=work)


def _start_apiserver(
    kube: Path, work: Path, etcd_url: str, tokens_file: Path, admin_token: str, timeout: float
) -> tuple[subprocess.Popen[bytes], str, float]:
    port = _free_port()
    server = f"https://127.0.0.1:{port}"
    argv = [
        str(kube),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={work / 'apiserver-certs'}",
        f"--tls-cert-file={work / 'server.crt'}",
        f"--tls-private-key-file={work / 'server.key'}",
        f"--client-ca-file={work / 'ca.crt'}",
        f"--token-auth-file={tokens_file}",
        "--authorization-mode=RBAC",
        "--anonymous-auth=false",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={work / 'sa.pub'}",
        f"--service-account-signing-key-file={work / 'sa.key'}",
        "--service-cluster-ip-range=10.0.0.0/24",
        # No controller-manager runs, so namespaces never get a default ServiceAccount (as in envtest).
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]
    log = work / "kube-apiserver.log"
    proc = _spawn(argv, log)
    ctx = _ssl_context(work / "ca.crt")

    def ready() -> bool:
        status, _ = _api(server, admin_token, ctx, "GET", "/readyz")
        return status == 200

    try:
        took = _wait("kube-apiserver", proc, log, ready, timeout)
    except BaseException:
        _stop(proc)
        raise
    return proc, server, took


# --------------------------------------------------------------------------------------------------
# API access without a Kubernetes client


def _ssl_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def _api(
    server: str, token: str, ctx: ssl.SSLContext, method: str, path: str, body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:  # fmt: skip
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            raw = resp.read()
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def load_crds(dirs: list[Path], *, recursive: bool = False) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the ``*.yaml`` files of ``dirs`` (and their subdirectories)."""
    yaml = YAML(typ="safe", pure=True)
    crds: list[dict[str, Any]] = []
    for d in dirs:
        files = sorted(d.rglob("*.yaml") if recursive else d.glob("*.yaml"))
        if not files:
            raise ControlPlaneError(f"no CRD files in {d} (set BURSTD_SHARED to the shared/ directory?)")
        for f in files:
            for doc in yaml.load_all(f.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    crds.append(doc)
    return crds


def _install_crds(
    server: str, token: str, ctx: ssl.SSLContext, crds: list[dict[str, Any]], timeout: float
) -> float:
    start = time.monotonic()
    base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in crds:
        status, body = _api(server, token, ctx, "POST", base, crd)
        if status != 201:
            raise ControlPlaneError(f"creating CRD {crd['metadata']['name']} failed: HTTP {status}: {body}")
    pending = {crd["metadata"]["name"] for crd in crds}
    while pending:
        for name in sorted(pending):
            status, body = _api(server, token, ctx, "GET", f"{base}/{name}")
            conds = (
                {c["type"]: c for c in ((body or {}).get("status") or {}).get("conditions") or []}
                if status == 200
                else {}
            )
            if conds.get("Established", {}).get("status") == "True":
                pending.discard(name)
            elif conds.get("NamesAccepted", {}).get("status") == "False":
                raise ControlPlaneError(
                    f"CRD {name}: names not accepted: {conds['NamesAccepted'].get('message')}"
                )
        if pending and time.monotonic() - start > timeout:
            raise ControlPlaneError(f"CRDs not Established after {timeout:.0f} s: {sorted(pending)}")
        if pending:
            time.sleep(0.05)
    established_at = time.monotonic()
    # Established is not enough: each served version's storage (watch cache) initializes after it and
    # answers 429 "storage is (re)initializing" meanwhile. Ready = a LIST of every served version is 200.
    lists = {
        f"/apis/{crd['spec']['group']}/{v['name']}/{crd['spec']['names']['plural']}?limit=1"
        for crd in crds
        for v in crd["spec"]["versions"]
        if v.get("served")
    }
    while lists:
        for path in sorted(lists):
            status, body = _api(server, token, ctx, "GET", path)
            if status == 200:
                lists.discard(path)
            elif status not in (404, 429, 503):
                raise ControlPlaneError(f"GET {path} after its CRD was Established: HTTP {status}: {body}")
        if lists and time.monotonic() - start > timeout:
            raise ControlPlaneError(f"CRD storage not serving after {timeout:.0f} s: {sorted(lists)}")
        if lists:
            time.sleep(0.05)
    # The CRD handler makes every create within 2 s of a CRD's Established transition sleep 2 s (an HA
    # safety delay in apiextensions-apiserver's customresource_handler.go). Wait it out here, once, so the
    # tests' first creates have normal latency (timing-sensitive tests such as lease renewals rely on it).
    if crds:
        time.sleep(max(0.0, 2.1 - (time.monotonic() - established_at)))
    return time.monotonic() - start


def _write_kubeconfig(path: Path, server: str, ca_file: Path, token: str, context: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_file.read_bytes()).decode(),
        }}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "preferences": {},
    }  # fmt: skip
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML: any kubeconfig loader reads it
    path.chmod(0o600)


# --------------------------------------------------------------------------------------------------
# the whole thing


@contextlib.contextmanager
def start_control_plane(
    binaries: Binaries | None = None,
    *,
    install_crds: bool = True,
    crds: Callable[[], list[dict[str, Any]]] | None = None,
) -> Iterator[ControlPlane]:
    """Start etcd and kube-apiserver, install the CRDs, yield a ControlPlane; always tear down.

    The CRDs are those of ``crd_dirs()``, or what ``crds()`` returns (it runs in a thread while the
    servers start), or none without ``install_crds``.
    """
    binaries = binaries or find_binaries()
    timeout = float(os.environ.get("BURSTD_TESTENV_START_TIMEOUT", "90"))
    dirs = crd_dirs() if install_crds and crds is None else []
    for d in dirs:
        if not any(d.glob("*.yaml")):
            raise ControlPlaneError(f"no CRD files in {d} (set BURSTD_SHARED to the shared/ directory?)")
    # Parsing ~1.2 MB of CRD YAML takes ~2 s in pure Python: overlap it with the servers' start.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="burstd-testenv-crds")
    crds_future = pool.submit(crds if crds is not None and install_crds else lambda: load_crds(dirs))
    pool.shutdown(wait=False)
    work = Path(tempfile.mkdtemp(prefix="burstd-testenv-"))
    etcd_proc: subprocess.Popen[bytes] | None = None
    api_proc: subprocess.Popen[bytes] | None = None
    try:
        _make_pki(work)
        admin_token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        user_token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        tokens = work / "tokens.csv"
        tokens.write_text(
            f'{admin_token},admin,admin-uid,"system:masters"\n{user_token},burstd-unprivileged,u-1\n'
        )
        tokens.chmod(0o600)
        timings = Timings()
        for attempt in range(3):  # a random port can be taken between choosing it and binding it
            try:
                etcd_proc, etcd_url, timings.etcd_ready_s = _start_etcd(binaries.etcd, work, timeout)
                api_proc, server, timings.apiserver_ready_s = _start_apiserver(
                    binaries.kube_apiserver, work, etcd_url, tokens, admin_token, timeout
                )
                break
            except _PortInUse:
                _stop(api_proc)
                _stop(etcd_proc)
                shutil.rmtree(work / "etcd-data", ignore_errors=True)
                if attempt == 2:
                    raise
        ctx = _ssl_context(work / "ca.crt")
        loaded = crds_future.result()
        timings.crds_established_s = _install_crds(server, admin_token, ctx, loaded, timeout)
        timings.crd_count = len(loaded)
        kubeconfig = work / "admin.kubeconfig"
        _write_kubeconfig(kubeconfig, server, work / "ca.crt", admin_token, "burstd-testenv")
        yield ControlPlane(
            server=server,
            token=admin_token,
            kubeconfig=kubeconfig,
            ca_file=work / "ca.crt",
            unprivileged_user="burstd-unprivileged",
            unprivileged_token=user_token,
            etcd_url=etcd_url,
            workdir=work,
            binaries=binaries,
            timings=timings,
        )
    finally:
        _stop(api_proc)
        _stop(etcd_proc)
        if os.environ.get("BURSTD_TESTENV_KEEP") == "1":
            print(f"burstd testenv: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
