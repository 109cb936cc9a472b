"""The settings' ``cloud`` section: defaults, durations and bounds, errors at FILE:LINE:COL, provider
configurations passed on as snake_case keywords, and their secrets kept out of reprs and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from burstd.runtime.settings import SettingsError, load_settings

SECRET = "k8sZ3cr3tVALUEthatMustNotLeak"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "burstd.yaml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    cloud = load_settings(None).cloud
    assert cloud.providers == {}
    assert (cloud.quote_ttl, cloud.instances_interval, cloud.orphan_grace_period) == (60.0, 300.0, 600.0)
    assert cloud.delete_orphans is False
    assert cloud.call_timeout is None  # requestTimeout applies


def test_the_section_from_a_file(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "cloud:\n"
        "  providers:\n"
        f"    tencentcloud: {{region: ap-guangzhou, secretKey: {SECRET}, maxAttempts: 3}}\n"
        "  quoteTTL: 30s\n"
        "  instancesInterval: 2m\n"
        "  orphanGracePeriod: 15m\n"
        "  deleteOrphans: true\n"
        "  callTimeout: 5s\n",
    )
    settings = load_settings(config)
    cloud = settings.cloud
    assert cloud.config_of("tencentcloud") == {
        "region": "ap-guangzhou",
        "secret_key": SECRET,
        "max_attempts": 3,
    }
    assert cloud.config_of("alibabacloud") == {}
    assert (cloud.quote_ttl, cloud.instances_interval, cloud.orphan_grace_period) == (30.0, 120.0, 900.0)
    assert cloud.delete_orphans is True
    assert cloud.call_timeout == 5.0
    assert cloud.secret_values() == [SECRET]
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cloud:\n  quoteTTL: 0s\n", "burstd.yaml:2:13: cloud.quoteTTL: must be above 0"),
        ("cloud:\n  orphanGracePeriod: 400d\n", "cloud.orphanGracePeriod: must be at most 366d"),
        (
            "cloud:\n  deleteOrphan: true\n",
            "burstd.yaml:2:3: cloud.deleteOrphan: Extra inputs are not permitted",
        ),
        ("cloud:\n  providers: {tencentcloud: 3}\n", "cloud.providers.tencentcloud"),
        ("cloud:\n  callTimeout: 2m\n", "cloud.callTimeout (120s) must be shorter than roundTimeout (60s)"),
    ],
)
def test_bad_values_name_the_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    assert expected in str(caught.value)


def test_a_bad_value_beside_a_secret_does_not_show_the_secret(tmp_path: Path) -> None:
    text = f"cloud:\n  providers:\n    tencentcloud: {{secretKey: {SECRET}}}\n  quoteTTL: never\n"
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    assert "cloud.quoteTTL" in str(caught.value)
    assert SECRET not in str(caught.value)
