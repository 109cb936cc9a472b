"""A real Prometheus for the PromQL tests, scraping exporters served by the test process on loopback.

- ``Exporter``: ``/metrics`` in the Prometheus text format, values the test can change, stoppable.
- ``FrontServer``: an HTTP server in front of the real Prometheus that relays queries unchanged, except
  that it answers 401 to a wrong bearer token, and 503 (echoing the Authorization header, to prove the
  source redacts it) to queries mentioning ``burstd_test_down``. Prometheus itself has no auth.
- ``start_prometheus``: the binary from env ``PROMETHEUS`` or ``scripts/testenv/install-prometheus.sh
  --check``; missing -> PrometheusSetupError (the fixture turns it into a test error, never a skip).
- ``backfill``: history written into a fresh TSDB data dir with ``promtool tsdb create-blocks-from
  openmetrics``, for ``start_prometheus(..., storage=DIR, retention=...)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "scripts" / "testenv" / "install-prometheus.sh"
SCRAPE_INTERVAL_S = 1


class PrometheusSetupError(RuntimeError):
    """Prometheus could not be found or started (the message says why and what to do)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hung up (Prometheus on shutdown, a timed-out scrape) is not a test failure
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 run in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = _QuietHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _ExporterHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        exporter: Exporter = self.server.owner  # type: ignore[attr-defined]
        if self.path != "/metrics":
            _reply(self, 404, b"not found\n", "text/plain")
            return
        _reply(self, 200, exporter.render().encode(), "text/plain; version=0.0.4")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Exporter(_Server):
    """Serves ``name{labels} value`` lines; ``set()`` changes a value, ``stop()`` takes the target down."""

    def __init__(self, values: Mapping[str, float]) -> None:
        self._values = dict(values)
        self._lock = threading.Lock()
        super().__init__(_ExporterHandler)

    def set(self, series: str, value: float) -> None:
        with self._lock:
            self._values[series] = value

    def render(self) -> str:
        with self._lock:
            return "".join(f"{series} {value}\n" for series, value in self._values.items())


class _FrontHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        front: FrontServer = self.server.owner  # type: ignore[attr-defined]
        auth = self.headers.get("Authorization")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("query", [""])[0]
        with front.lock:
            front.requests.append(query)
            front.paths.append(self.path)
        if auth is not None and auth != f"Bearer {front.accepted_token}":
            body = {"status": "error", "errorType": "unauthorized", "error": f"bad credentials: {auth}"}
            _reply(self, 401, json.dumps(body).encode(), "application/json")
            return
        if "burstd_test_down" in query:
            body = {"status": "error", "errorType": "unavailable", "error": f"overloaded; you sent {auth}"}
            _reply(self, 503, json.dumps(body).encode(), "application/json")
            return
        try:
            with urllib.request.urlopen(front.upstream + self.path, timeout=10) as resp:
                status, data = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
        _reply(self, status, data, "application/json")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FrontServer(_Server):
    def __init__(self, upstream: str, accepted_token: str) -> None:
        self.upstream = upstream
        self.accepted_token = accepted_token
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.paths: list[str] = []  # every request's path and query string, in order
        super().__init__(_FrontHandler)

    def count(self, query: str) -> int:
        with self.lock:
            return self.requests.count(query)


@dataclass(frozen=True)
class Prometheus:
    url: str
    ready_s: float
    """Seconds from starting the process to ``/-/ready``."""
    first_scrape_s: float
    """Seconds from starting the process until every target was scraped once."""
    log: Path


def find_prometheus() -> str:
    explicit = os.environ.get("PROMETHEUS")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise PrometheusSetupError(f"PROMETHEUS={explicit} is not an executable file")
        return explicit
    proc = subprocess.run(
        [str(INSTALL_SCRIPT), "--check"], capture_output=True, text=True, check=False, timeout=60
    )
    for line in proc.stdout.splitlines():
        if line.startswith("PROMETHEUS="):
            return line.removeprefix("PROMETHEUS=")
    raise PrometheusSetupError(
        "no prometheus binary for the PromQL integration tests: run scripts/testenv/install-prometheus.sh "
        f"(Debian package 'prometheus') or set PROMETHEUS=/path/to/prometheus.\n{proc.stderr.strip()}"
    )


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def _wait(what: str, check: Any, deadline: float, log: Path, proc: subprocess.Popen[bytes]) -> None:
    while True:
        if proc.poll() is not None:
            raise PrometheusSetupError(f"prometheus exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError, ValueError):
            if check():
                return
        if time.monotonic() > deadline:
            raise PrometheusSetupError(f"timed out waiting for {what}:\n{_tail(log)}")
        time.sleep(0.1)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def find_promtool() -> str:
    """promtool beside the Prometheus binary (the same Debian package), else on PATH."""
    beside = Path(find_prometheus()).with_name("promtool")
    found = str(beside) if os.access(beside, os.X_OK) else shutil.which("promtool")
    if found is None:
        raise PrometheusSetupError(
            "no promtool for the Prometheus history tests: run scripts/testenv/install-prometheus.sh "
            "(Debian package 'prometheus' ships it beside /usr/bin/prometheus)"
        )
    return found


def backfill(openmetrics: str, data_dir: Path) -> None:
    """Write ``openmetrics`` (samples with timestamps, ending in ``# EOF``) as TSDB blocks into ``data_dir``.

    promtool cuts 2-hour blocks. Prometheus loads them at start and keeps them only within its time
    retention, counted back from the newest block's end (not from now): pass ``retention`` to
    ``start_prometheus`` longer than the history. Nothing is scraped into the head unless targets are
    given, so the blocks never overlap it.
    """
    source = data_dir.parent / f"{data_dir.name}.om"
    source.write_text(openmetrics)
    try:
        proc = subprocess.run(
            [
                find_promtool(),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--quiet",
                str(source),
                str(data_dir),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    finally:
        source.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise PrometheusSetupError(f"promtool could not backfill {data_dir}:\n{proc.stderr.strip()}")


@contextlib.contextmanager
def start_prometheus(
    targets: Mapping[str, str],
    timeout: float = 60.0,
    storage: Path | None = None,
    retention: str | None = None,
) -> Iterator[Prometheus]:
    """Run Prometheus scraping ``targets`` (job -> host:port) every second; stop it and clean up after.

    ``storage``: an existing TSDB data dir (e.g. from ``backfill``; the caller removes it), kept for
    ``retention`` (e.g. ``400d``; Prometheus's default is 15d).
    """
    binary = find_prometheus()
    work = Path(tempfile.mkdtemp(prefix="burstd-prometheus-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            for job, target in targets.items()
        )
        config = work / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: {SCRAPE_INTERVAL_S}s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n{jobs}"
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = work / "prometheus.log"
        setpriv = shutil.which("setpriv")  # the kernel kills Prometheus if pytest dies without teardown
        prefix = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
        argv = [
            *prefix,
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={storage if storage is not None else work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *([f"--storage.tsdb.retention.time={retention}"] if retention else []),
        ]
        start = time.monotonic()
        with log.open("wb") as fh:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
        deadline = start + timeout

        def ready() -> bool:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)

        _wait("/-/ready", ready, deadline, log, proc)
        ready_s = time.monotonic() - start

        def scraped() -> bool:
            up = _get_json(f"{url}/api/v1/query?query=up%3D%3D1")["data"]["result"]
            return {s["metric"]["job"] for s in up} >= set(targets)

        _wait("the first scrape of every target", scraped, deadline, log, proc)
        yield Prometheus(url=url, ready_s=ready_s, first_scrape_s=time.monotonic() - start, log=log)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)
        if not os.environ.get("BURSTD_TESTENV_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
