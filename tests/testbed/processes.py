"""Controller processes of the test bed: started with a log file, killed with the test process (setpriv
``--pdeathsig``), waited on until a probe says they serve, stopped on teardown, their memory read."""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from integration.controlplane import ControlPlaneError, _free_port, _spawn, _stop, _tail, _wait

__all__ = ["ControllerProcess", "free_port", "http_ok", "https_listening"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_port()


def https_listening(port: int) -> Callable[[], bool]:
    """A probe: something completes a TLS handshake on 127.0.0.1:``port`` (a webhook server)."""

    def probe() -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=ctx, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered (404 on "/"): it is serving
        except (OSError, ssl.SSLError):
            return False

    return probe


def http_ok(url: str) -> Callable[[], bool]:
    """A probe: GET ``url`` answers 200 (a controller's /readyz or /healthz)."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return int(resp.status) == 200
        except (OSError, urllib.error.URLError):
            return False

    return probe


@dataclass
class ControllerProcess:
    """One running controller binary."""

    name: str
    argv: list[str]
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    ready_after_s: float = 0.0

    def start(self) -> ControllerProcess:
        """Start it (environment: ours plus ``env``); output goes to ``log``."""
        self.popen = _spawn(self.argv, self.log, self.env or None)
        return self

    def wait_ready(self, probe: Callable[[], bool], timeout: float = 120.0) -> float:
        """Wait until ``probe()`` is true; raise ``ControlPlaneError`` with the log's tail if the process
        exits first or the timeout passes."""
        self.ready_after_s = _wait(self.name, self._proc(), self.log, probe, timeout)
        return self.ready_after_s

    def check_alive(self) -> None:
        """Raise if the process has exited (controllers only exit by failing)."""
        proc = self._proc()
        if proc.poll() is not None:
            raise ControlPlaneError(
                f"{self.name} exited with code {proc.returncode}; log {self.log}:\n{_tail(self.log)}"
            )

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            _stop(self._proc())

    def rss_bytes(self) -> int:
        """Resident memory now (``VmRSS``), 0 if the process is gone."""
        try:
            status = Path(f"/proc/{self._proc().pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines)

    def _proc(self) -> subprocess.Popen[bytes]:
        if self.popen is None:
            raise ControlPlaneError(f"{self.name} was never started")
        return self.popen
