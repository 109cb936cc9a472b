"""``burstd run`` refuses bad input before it connects anywhere: exit 1 with what was wrong and where."""

from __future__ import annotations

from pathlib import Path

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
    assert f"{config}: tickInterval: Value error, invalid duration 'often'" in err


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
