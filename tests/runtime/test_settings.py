"""``burstd run`` settings: file < environment < flags, and errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from burstd.runtime.settings import SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "burstd.yaml"
    path.write_text(text)
    return path


def test_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(
        tmp_path,
        "karmada: {kubeconfig: /etc/karmada.conf, context: karmada-apiserver}\n"
        "management: {inCluster: true}\n"
        "namespace: bursting\n"
        "tickInterval: 30s\n"
        "leaderElection: {leaseDuration: 20s, renewDeadline: 12s}\n",
    )
    monkeypatch.setenv("BURSTD_KARMADA__CONTEXT", "from-env")
    monkeypatch.setenv("BURSTD_TICK_INTERVAL", "45s")
    settings = load_settings(config, tick_interval="1m")
    assert settings.karmada.kubeconfig == Path("/etc/karmada.conf")
    assert settings.karmada.context == "from-env"  # environment beats the file
    assert settings.management.in_cluster is True
    assert settings.namespace == "bursting"
    assert settings.tick_interval == 60.0  # the flag beats the environment
    assert settings.leader_election.lease_duration == 20.0
    assert settings.leader_election.renew_deadline == 12.0
    assert settings.leader_election.retry_period == 2.0  # default


def test_defaults_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "burstd-7d9f-abcde")
    settings = load_settings(None)
    assert settings.identity == "burstd-7d9f-abcde"
    assert settings.dry_run is False
    assert settings.capi_version == "v1beta2"
    assert settings.policies == [Path("policies")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("karmada: {kubeconfg: /x}\n", "burstd.yaml:1:11: karmada.kubeconfg: Extra inputs are not permitted"),
        ("tickInterval: soon\n", "burstd.yaml:1:15: tickInterval: invalid duration 'soon'"),
        ("management: {inCluster: true, context: x}\n", "set either inCluster: true or kubeconfig/context"),
        (
            "leaderElection: {leaseDuration: 5s, renewDeadline: 10s}\n",
            "retryPeriod < renewDeadline < leaseDuration",
        ),
        ("namespace: Not_A_Name\n", "burstd.yaml:1:12: namespace: String should match pattern"),
        ("karmada: [\n", "burstd.yaml:2:1: invalid YAML"),
        ("- just\n- a list\n", "burstd.yaml:1:1: expected a mapping of settings, got list"),
    ],
)
def test_bad_settings_name_the_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    assert expected in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(tmp_path / "absent.yaml")


def test_bad_environment_value_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BURSTD_DRY_RUN", "perhaps")
    with pytest.raises(SettingsError, match="BURSTD_DRY_RUN: dryRun: Input should be a valid boolean"):
        load_settings(None)


def test_the_example_config_in_deploy_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "config.example.yaml"
    settings = load_settings(example)
    assert settings.management.in_cluster is True
    assert settings.karmada.context == "karmada-apiserver"


def test_every_setting_is_in_the_readme_reference() -> None:
    from pydantic import BaseModel

    from burstd.runtime.settings import Settings

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("**3. Settings.**") : readme.index("**4. Run it")]
    missing = []
    for name, info in Settings.model_fields.items():
        key = info.alias or name
        if f"`{key}`" not in section and f"`{key}." not in section:
            missing.append(key)
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            for sub, subinfo in nested.model_fields.items():
                subkey = subinfo.alias or sub
                if f"{subkey}`" not in section:
                    missing.append(f"{key}.{subkey}")
    assert missing == [], f"settings missing from the README reference: {missing}"


# ------------------------------------------------------------------------------------ hostile values (issue 7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tickInterval: 0s\n", "burstd.yaml:1:15: tickInterval: must be above 0s"),
        ("namespace: x\ntickInterval: 400d\n", "burstd.yaml:2:15: tickInterval: must be at most 366d"),
        (
            "leaderElection:\n  retryPeriod: 0s\n",
            "burstd.yaml:2:16: leaderElection.retryPeriod: must be above 0s",
        ),
        (
            "leaderElection: {leaseDuration: 100000000d, renewDeadline: 10s}\n",
            "burstd.yaml:1:33: leaderElection.leaseDuration: must be at most 366d",
        ),
        ("prometheus: {timeout: 0s}\n", "burstd.yaml:1:23: prometheus.timeout: must be above 0s"),
        ("http: {port: 99999}\n", "burstd.yaml:1:14: http.port: Input should be less than or equal to 65535"),
        ("karmada: {kubeconfg: /x}\n", "burstd.yaml:1:11: karmada.kubeconfg: Extra inputs are not permitted"),
        ("tickInterval: soon\n", "burstd.yaml:1:15: tickInterval: invalid duration 'soon'"),
        ("karmada: " + "[" * 5000 + "]" * 5000 + "\n", "burstd.yaml:1:1: the settings are nested too deeply"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
            "burstd.yaml:1:1: the settings hold more than",
        ),
    ],
)
def test_hostile_values_are_refused_at_file_line_col(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    assert expected in str(caught.value), str(caught.value)


def test_a_binary_settings_file_is_refused_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "burstd.yaml"
    path.write_bytes(b"namespace: x\ntick\xffInterval: 1s\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert f"{path}:2:5: not UTF-8 text (byte 0xff)" in str(caught.value)


def test_an_environment_error_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BURSTD_TICK_INTERVAL", "0s")
    monkeypatch.setenv("BURSTD_LEADER_ELECTION__RETRY_PERIOD", "0s")
    with pytest.raises(SettingsError) as caught:
        load_settings(None)
    message = str(caught.value)
    assert "BURSTD_TICK_INTERVAL: tickInterval: must be above 0s" in message
    assert "BURSTD_LEADER_ELECTION__RETRY_PERIOD: leaderElection.retryPeriod: must be above 0s" in message


def test_an_environment_error_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BURSTD_HTTP__PORT", "70000")
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, "http: {port: 8080}\n"))
    assert "BURSTD_HTTP__PORT: http.port: Input should be less than or equal to 65535" in str(caught.value)


def test_a_flag_error_names_the_flag() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(None, log_level="LOUD")
    assert "--log-level: logLevel: Input should be" in str(caught.value)


def test_http_listens_on_the_pod_ip_else_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_IP", raising=False)
    assert load_settings(None).http.address == "127.0.0.1"
    monkeypatch.setenv("POD_IP", "10.244.1.7")
    settings = load_settings(None)
    assert settings.http.address == "10.244.1.7"
    assert settings.http.debug is False


def test_an_unknown_key_is_shown_as_written(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, "namespace: x\nhttp:\n  listen_address: 1.2.3.4\n"))
    assert "burstd.yaml:3:3: http.listen_address: Extra inputs are not permitted" in str(caught.value)


def test_a_blank_unknown_key_is_quoted(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, "' ': 1\n"))
    assert "burstd.yaml:1:1: [' ']: Extra inputs are not permitted" in str(caught.value)
