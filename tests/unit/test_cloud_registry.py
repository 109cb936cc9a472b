"""Provider plugins are found through entry points; the interface's values and errors behave.

The ``fake`` entry point exists once the project is installed (``pip install -e .``, as the Makefile does).
"""

from __future__ import annotations

import math
from importlib.metadata import EntryPoint
from typing import Any

import pytest
from burstd_provider_fake import FakeProvider

from burstd.cloud import (
    AuthFailed,
    CloudProvider,
    Instance,
    InstanceState,
    InvalidRequest,
    ProviderError,
    ProviderLoadError,
    QuotaExceeded,
    Quote,
    StockOut,
    Throttled,
    Unavailable,
    UnknownProvider,
    available,
    get_provider,
    load_class,
    redact,
    registry,
)

# ------------------------------------------------------------------------------------------- registry


def test_fake_provider_is_found_through_entry_points() -> None:
    assert "fake" in available()
    assert load_class("fake") is FakeProvider


def test_get_provider_passes_the_configuration() -> None:
    provider = get_provider("fake", script={"pools": {"tke-gz6": {"price": 2.88}}})
    assert isinstance(provider, FakeProvider)
    assert isinstance(provider, CloudProvider)
    assert provider.script.pools["tke-gz6"].price == 2.88


def test_unknown_provider_lists_the_available_ones() -> None:
    with pytest.raises(UnknownProvider) as caught:
        get_provider("tencent")
    message = str(caught.value)
    assert "unknown cloud provider 'tencent'" in message
    assert "installed providers: " in message
    assert "fake" in message
    assert "burstd.providers" in message
    assert "fake" in caught.value.available


def test_configuration_rejected_by_the_provider() -> None:
    with pytest.raises(
        ProviderLoadError, match=r"'fake' rejected its configuration: .*pools\.p\.prize: unknown key"
    ):
        get_provider("fake", script={"pools": {"p": {"prize": 1}}})
    with pytest.raises(ProviderLoadError, match="unexpected keyword argument"):
        get_provider("fake", region="ap-guangzhou")


def test_configuration_errors_never_echo_credentials() -> None:
    with pytest.raises(ProviderLoadError) as caught:
        get_provider("fake", script={"pools": {"p": {"secretKey=hunter2": 1}}})
    assert "hunter2" not in str(caught.value)


def _fake_entry_points(*eps: EntryPoint) -> Any:
    def entry_points(group: str) -> list[EntryPoint]:
        assert group == "burstd.providers"
        return list(eps)

    return entry_points


@pytest.mark.parametrize(
    ("entry_point", "fragment"),
    [
        (
            EntryPoint("broken", "burstd_no_such_module_xyz:Provider", "burstd.providers"),
            "'broken' (burstd_no_such_module_xyz:Provider) failed to import: ModuleNotFoundError",
        ),
        (
            EntryPoint("notaclass", "burstd.cloud.provider:redact", "burstd.providers"),
            "is not a CloudProvider",
        ),
        (
            EntryPoint("dict", "builtins:dict", "burstd.providers"),
            "is not a CloudProvider: it lacks name, quote, instances, classify",
        ),
        (
            EntryPoint("cloudy", "burstd_provider_fake:FakeProvider", "burstd.providers"),
            "registered as 'cloudy' (burstd_provider_fake:FakeProvider) calls itself 'fake'",
        ),
    ],
    ids=["import-error", "function", "not-a-provider", "name-mismatch"],
)
def test_broken_plugins_give_clear_errors(
    monkeypatch: pytest.MonkeyPatch, entry_point: EntryPoint, fragment: str
) -> None:
    monkeypatch.setattr(registry, "entry_points", _fake_entry_points(entry_point))
    with pytest.raises(ProviderLoadError) as caught:
        load_class(entry_point.name)
    assert fragment in str(caught.value)


def test_available_is_sorted_and_first_registration_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        registry,
        "entry_points",
        _fake_entry_points(
            EntryPoint("zeta", "builtins:dict", "burstd.providers"),
            EntryPoint("fake", "burstd_provider_fake:FakeProvider", "burstd.providers"),
            EntryPoint("fake", "builtins:dict", "burstd.providers"),
        ),
    )
    assert available() == ["fake", "zeta"]
    assert load_class("fake") is FakeProvider


def test_no_providers_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "entry_points", _fake_entry_points())
    with pytest.raises(UnknownProvider, match="installed providers: none"):
        get_provider("fake")


# ------------------------------------------------------------------------------------------- values


def test_quote_validates() -> None:
    quote = Quote(in_stock=True, quota_headroom_nodes=5, price_per_node_hour=2.5, currency="CNY")
    assert quote.can_launch(5)
    assert not quote.can_launch(6)
    assert not Quote(False, 5, 2.5, "CNY").can_launch(1)
    with pytest.raises(ValueError, match=">= 0"):
        Quote(True, -1, 1.0, "CNY")
    with pytest.raises(TypeError, match="int"):
        Quote(True, True, 1.0, "CNY")
    with pytest.raises(ValueError, match="finite"):
        Quote(True, 1, math.nan, "CNY")
    with pytest.raises(ValueError, match="finite"):
        Quote(True, 1, -0.1, "CNY")
    with pytest.raises(ValueError, match="ISO 4217"):
        Quote(True, 1, 1.0, "yuan")


def test_quote_is_frozen() -> None:
    quote = Quote(True, 1, 1.0, "CNY")
    with pytest.raises(AttributeError):
        quote.in_stock = False  # type: ignore[misc]


def test_instance_state() -> None:
    instance = Instance("ins-1", "tke-gz6", "running", 10.0)  # type: ignore[arg-type]  # as an SDK gives it
    assert instance.state is InstanceState.RUNNING
    assert instance.alive
    assert not Instance("ins-2", "tke-gz6", InstanceState.TERMINATED, 0.0).alive
    with pytest.raises(ValueError, match="'exploded'"):
        Instance("ins-3", "tke-gz6", "exploded", 0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        Instance("", "tke-gz6", InstanceState.PENDING, 0.0)


# ------------------------------------------------------------------------------------------- errors

ERRORS: list[tuple[type[ProviderError], bool]] = [
    (StockOut, True),
    (QuotaExceeded, False),
    (Throttled, True),
    (AuthFailed, False),
    (InvalidRequest, False),
    (Unavailable, True),
]


@pytest.mark.parametrize(("error", "retryable"), ERRORS, ids=[e.__name__ for e, _ in ERRORS])
def test_error_hierarchy(error: type[ProviderError], retryable: bool) -> None:
    assert issubclass(error, ProviderError)
    assert error.retryable is retryable
    raised = error("it failed", provider="tencent", pool="tke-gz6", code="Some.Code")
    assert str(raised) == f"tencent/tke-gz6: {error.reason} [Some.Code]: it failed"
    assert raised.message == "it failed"


def test_throttled_carries_retry_after() -> None:
    assert Throttled("slow down", retry_after=2.5).retry_after == 2.5
    assert str(Throttled("slow down")) == "Throttled: slow down"


SECRETS = [
    ("SecretKey=Gu5t9xGARNpq86cd98joQYCN3EXAMPLE&Action=RunInstances", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
    ("secret_id: AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"),
    ('{"AccessKeySecret": "s3cr3t-value"}', "s3cr3t-value"),
    (
        "Authorization: TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c",
        "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c",
    ),
    (
        "Authorization: TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request",
        "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
    ),
    ("request ?AccessKeyId=LTAI5tQ4x7yEXAMPLE&Signature=xyz%3D", "LTAI5tQ4x7yEXAMPLE"),
    ("token=eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("password: 'hunter 2'", "hunter 2"),
    ("the key LTAI5tQ4x7yEXAMPLE was disabled", "LTAI5tQ4x7yEXAMPLE"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_error_messages_never_carry_credentials(text: str, secret: str) -> None:
    assert secret not in redact(text)
    error = AuthFailed(f"request failed: {text}", code=text)
    assert secret not in str(error)
    assert secret not in repr(error)
    assert secret not in error.message
    assert "<redacted>" in str(error)


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "InvalidParameterValue: instance type SA5.2XLARGE32 is not sold in ap-guangzhou-6 (no credentials)"
    assert redact(text) == text
