"""A real Prometheus for the PromQL tests, scraping exporters served by the test process on loopback.

- ``Exporter``: ``/metrics`` in the Prometheus text format, values the test can change, stoppable.
- ``FrontServer``: an HTTP server in front of the real Prometheus that relays queries unchanged, except
  that it answers 401 to a wrong bearer token, and 503 (echoing the Authorization header, to prove the
  source redacts it) to queries mentioning ``burstd_test_down``. Prometheus itself has no auth.
- ``start_prometheus``: the binary from env ``PROMETHEUS`` or ``scripts/testenv/install-prometheus.sh
  --check``; missing -> PrometheusSetupError (the fixture turns it into a test error, never a skip).
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


@contextlib.contextmanager
def start_prometheus(targets: Mapping[str, str], timeout: float = 60.0) -> Iterator[Prometheus]:
    """Run Prometheus scraping ``targets`` (job -> host:port) every second; stop it and clean up after."""
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
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
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
