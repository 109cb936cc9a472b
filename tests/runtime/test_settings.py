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
        ("karmada: {kubeconfg: /x}\n", "burstd.yaml: karmada.kubeconfg: Extra inputs are not permitted"),
        ("tickInterval: soon\n", "burstd.yaml: tickInterval: Value error, invalid duration 'soon'"),
        ("management: {inCluster: true, context: x}\n", "set either inCluster: true or kubeconfig/context"),
        (
            "leaderElection: {leaseDuration: 5s, renewDeadline: 10s}\n",
            "retryPeriod < renewDeadline < leaseDuration",
        ),
        ("namespace: Not_A_Name\n", "burstd.yaml: namespace: String should match pattern"),
        ("karmada: [\n", "burstd.yaml:2:1: invalid YAML"),
        ("- just\n- a list\n", "expected a mapping of settings, got list"),
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
    with pytest.raises(SettingsError, match="dry_run"):
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
