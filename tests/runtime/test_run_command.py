"""``burstd run`` refuses bad input before it connects anywhere: exit 1 with what was wrong and where."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from burstd.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_invalid_settings_exit_1_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "burstd.yaml"
    config.write_text("tickInterval: often\n")
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{config}:1:15: tickInterval: invalid duration 'often'" in err


def test_invalid_policy_exits_1_with_file_line_col(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(
        "apiVersion: burstd.io/v1alpha1\nkind: BurstPolicy\nmetadata: {name: x}\nspec: {workloads: 3}\n"
    )
    assert main(["run", "--policies", str(policy)]) == 1
    err = capsys.readouterr().err
    assert f"{policy}:4:" in err
    assert "nothing was started" in err


def test_only_fleet_limits_and_no_policy_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "limits.yaml").write_text((ROOT / "policies" / "fleet-limits.yaml").read_text())
    assert main(["run", "--policies", str(tmp_path)]) == 1
    assert "no BurstPolicy found" in capsys.readouterr().err


def test_promql_condition_needs_prometheus_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "burstd" / "sim" / "data" / "policy.yaml").read_text()
    marker = "        - {signal: fhpa.unfitReplicas, above: 0, for: 0s}\n"
    assert marker in text
    query = "        - {promql: 'sum(kube_pod_status_unschedulable)', above: 5, for: 1m}\n"
    policy = tmp_path / "p.yaml"
    policy.write_text(text.replace(marker, marker + query, 1))
    assert main(["run", "--policies", str(policy)]) == 1
    assert "uses a promql condition but prometheus.url is not set" in capsys.readouterr().err


def test_an_unloadable_kubeconfig_exits_1_naming_the_api_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text((ROOT / "burstd" / "sim" / "data" / "policy.yaml").read_text())
    config = tmp_path / "burstd.yaml"
    config.write_text(
        f"karmada: {{kubeconfig: {tmp_path / 'absent.kubeconfig'}}}\n"
        f"policies: [{policy}]\nhttp: {{address: 127.0.0.1, port: 0}}\n"
    )
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"burstd run: karmada: cannot load {tmp_path / 'absent.kubeconfig'}" in err


# --------------------------------------------------------------------------- hostile environment (issue 7)

TOKEN = "s3cr3t-t0ken-4f9a2c"


class _ApiServer(http.server.ThreadingHTTPServer):
    """A stand-in API server on loopback that counts requests and echoes the credentials it was sent in
    every answer, so a client that logs response bodies logs the token."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests = 0
        self.seen = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _ApiServer

    def do_GET(self) -> None:
        self.server.requests += 1
        if self.server.requests >= 3:
            self.server.seen.set()
        body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": f"you sent {self.headers.get('Authorization')}",
                "reason": "Forbidden",
                "code": 403,
            }
        ).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[_ApiServer]:
    server = _ApiServer()
    try:
        yield server
    finally:
        server.close()


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def _config(tmp_path: Path, server: str, extra: str) -> Path:
    policy = tmp_path / "p.yaml"
    policy.write_text((ROOT / "burstd" / "sim" / "data" / "policy.yaml").read_text())
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", server)
    config = tmp_path / "burstd.yaml"
    config.write_text(
        f"karmada: {{kubeconfig: {kubeconfig}}}\nmanagement: {{kubeconfig: {kubeconfig}}}\n"
        f"policies: [{policy}]\nleaderElection: {{enabled: false}}\n" + extra
    )
    return config


def test_a_missing_bearer_token_file_exits_1_before_connecting(
    tmp_path: Path, api_server: _ApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(
        tmp_path,
        api_server.url,
        f"http: {{address: 127.0.0.1, port: 0}}\n"
        f"prometheus: {{url: 'http://127.0.0.1:9', bearerTokenFile: {tmp_path / 'absent-token'}}}\n",
    )
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{config}:6:58: prometheus.bearerTokenFile: cannot read {tmp_path / 'absent-token'}" in err
    assert "Traceback" not in err
    assert api_server.requests == 0


def test_an_unresolvable_http_address_exits_1_before_connecting(
    tmp_path: Path, api_server: _ApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, api_server.url, "http: {address: no-such-host.invalid, port: 0}\n")
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{config}:5:17: http.address: cannot resolve 'no-such-host.invalid'" in err
    assert api_server.requests == 0


def test_a_busy_port_exits_1_before_connecting(
    tmp_path: Path, api_server: _ApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = _config(tmp_path, api_server.url, f"http: {{address: 127.0.0.1, port: {port}}}\n")
        assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{config}:5:34: http.port: cannot listen on 127.0.0.1:{port}" in err
    assert api_server.requests == 0


def test_debug_logs_never_show_a_credential(tmp_path: Path, api_server: _ApiServer) -> None:
    """At DEBUG the Kubernetes client logs whole response bodies; this server echoes the token in each."""
    config = _config(tmp_path, api_server.url, "http: {address: 127.0.0.1, port: 0}\n")
    log = tmp_path / "burstd.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BURSTD_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "burstd", "run", "--config", str(config), "--log-level", "DEBUG"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    try:
        assert api_server.seen.wait(60), "burstd never reached the API server"
    finally:
        proc.terminate()
        proc.wait(30)
    text = log.read_text()
    assert "DEBUG" in text  # the log level was applied
    assert TOKEN not in text
