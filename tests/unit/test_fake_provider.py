"""The scriptable fake cloud: price, stock over time, quota, delays, injected errors, strict inputs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from burstd_provider_fake import FakeProvider, ScriptError
from pydantic import ValidationError

from burstd.cloud import (
    AuthFailed,
    CloudProvider,
    Instance,
    InstanceState,
    InvalidRequest,
    ProviderError,
    QuotaExceeded,
    Quote,
    StockOut,
    Throttled,
    Unavailable,
)
from burstd.policy.spec import PoolSpec

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def pool_spec(name: str = "tke-gz6", **overrides: Any) -> PoolSpec:
    data: dict[str, Any] = {
        "name": name,
        "provider": "fake",
        "cluster": "tke-gz",
        "backend": "capi-machinedeployment",
        "ref": {"namespace": "capi", "name": "md-0"},
        "nodes": {"min": 0, "max": 10},
        "instanceType": "SA5.2XLARGE32",
        "zone": "ap-guangzhou-6",
        "allocatable": {"cpu": "8", "memory": "32Gi"},
        "price": {"source": "provider"},
    }
    data.update(overrides)
    return PoolSpec.model_validate(data)


SCRIPT: dict[str, Any] = {
    "pools": {
        "tke-gz6": {
            "price": 2.88,
            "currency": "CNY",
            "quota": 5,
            "instanceType": "SA5.2XLARGE32",
            "zone": "ap-guangzhou-6",
        },
        "ack-hz-h": {"price": 3.02, "stock": [{"at": "1h", "inStock": False}, {"at": "2h", "inStock": True}]},
    }
}


def quote(provider: FakeProvider, pool: PoolSpec, nodes: int = 1) -> Quote:
    return run(provider.quote(pool, nodes))


def instances(provider: FakeProvider, pool: PoolSpec) -> Sequence[Instance]:
    return run(provider.instances(pool))


def test_satisfies_the_protocol() -> None:
    provider: CloudProvider = FakeProvider(SCRIPT)  # checked by mypy as well as at run time
    assert isinstance(provider, CloudProvider)
    assert provider.name == "fake"


def test_quote_reports_price_stock_and_quota() -> None:
    provider = FakeProvider(SCRIPT)
    assert quote(provider, pool_spec()) == Quote(True, 5, 2.88, "CNY")
    assert quote(provider, pool_spec("ack-hz-h", instanceType=None, zone=None)) == Quote(
        True, 1000, 3.02, "CNY"
    )


def test_stock_changes_over_time() -> None:
    provider = FakeProvider(SCRIPT)
    ack = pool_spec("ack-hz-h", instanceType=None, zone=None)
    assert quote(provider, ack).in_stock
    provider.advance(3600)
    assert not quote(provider, ack).in_stock
    with pytest.raises(StockOut):
        provider.launch("ack-hz-h", 1)
    provider.advance(3599)
    assert not quote(provider, ack).in_stock
    provider.advance(1)
    assert quote(provider, ack).in_stock
    assert len(provider.launch("ack-hz-h", 2)) == 2


def test_external_clock() -> None:
    now = [0.0]
    provider = FakeProvider(SCRIPT, clock=lambda: now[0])
    ack = pool_spec("ack-hz-h", instanceType=None, zone=None)
    now[0] = 5400.0
    assert not quote(provider, ack).in_stock
    with pytest.raises(RuntimeError, match="external clock"):
        provider.advance(1)


def test_clock_never_goes_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        FakeProvider(SCRIPT).advance(-1)


def test_quota_counts_alive_instances() -> None:
    provider = FakeProvider(SCRIPT)
    pool = pool_spec()
    launched = provider.launch("tke-gz6", 3)
    assert quote(provider, pool).quota_headroom_nodes == 2
    with pytest.raises(QuotaExceeded, match="launching 3 instances exceeds the quota \\(room for 2\\)"):
        provider.launch("tke-gz6", 3)
    provider.terminate([launched[0].id])
    assert quote(provider, pool).quota_headroom_nodes == 3


def test_account_quota_spans_pools() -> None:
    provider = FakeProvider({"quota": 4, "pools": {"a": {"quota": 10}, "b": {"quota": 10}}})
    provider.launch("a", 3)
    assert provider.quota_headroom("b") == 1
    with pytest.raises(QuotaExceeded):
        provider.launch("b", 2)
    assert len(provider.launch("b", 1)) == 1
    assert provider.quota_headroom("a") == 0


def test_instances_move_through_their_states() -> None:
    provider = FakeProvider({"pools": {"p": {"launchDelay": "90s", "terminateDelay": 30}}}, start=1000.0)
    pool = pool_spec("p", instanceType=None, zone=None)
    first, second = provider.launch("p", 2)
    assert first.id != second.id
    assert (first.state, first.created_at, first.pool) == (InstanceState.PENDING, 1000.0, "p")
    provider.advance(89)
    assert {i.state for i in instances(provider, pool)} == {InstanceState.PENDING}
    provider.advance(1)
    assert {i.state for i in instances(provider, pool)} == {InstanceState.RUNNING}
    provider.terminate(first.id)
    provider.advance(29)
    states = {i.id: i.state for i in instances(provider, pool)}
    assert states == {first.id: InstanceState.STOPPING, second.id: InstanceState.RUNNING}
    provider.advance(1)
    states = {i.id: i.state for i in instances(provider, pool)}
    assert states == {first.id: InstanceState.TERMINATED, second.id: InstanceState.RUNNING}
    assert provider.alive("p") == 1
    provider.terminate([first.id])  # terminating again changes nothing
    assert provider.alive() == 1


def test_instances_are_per_pool() -> None:
    provider = FakeProvider({"pools": {"a": {}, "b": {}}})
    provider.launch("a", 2)
    provider.launch("b", 1)
    assert len(instances(provider, pool_spec("a", instanceType=None, zone=None))) == 2
    assert [i.pool for i in instances(provider, pool_spec("b", instanceType=None, zone=None))] == ["b"]


# ------------------------------------------------------------------------------------------- strict inputs


def test_unknown_pool_is_an_invalid_request() -> None:
    provider = FakeProvider(SCRIPT)
    with pytest.raises(InvalidRequest, match=r"unknown pool 'nope' \(known pools: ack-hz-h, tke-gz6\)"):
        quote(provider, pool_spec("nope"))
    with pytest.raises(InvalidRequest, match="unknown pool"):
        instances(provider, pool_spec("nope"))
    with pytest.raises(InvalidRequest, match="unknown pool"):
        provider.launch("nope")
    assert [(c.call, c.failed) for c in provider.calls] == [
        ("quote", "InvalidRequest"),
        ("instances", "InvalidRequest"),
        ("launch", "InvalidRequest"),
    ]


def test_instance_type_and_zone_must_match_the_script() -> None:
    provider = FakeProvider(SCRIPT)
    with pytest.raises(InvalidRequest, match=r"instance type 'S5\.LARGE8' is not offered"):
        quote(provider, pool_spec(instanceType="S5.LARGE8"))
    with pytest.raises(InvalidRequest, match="zone 'ap-guangzhou-3'"):
        quote(provider, pool_spec(zone="ap-guangzhou-3"))


@pytest.mark.parametrize("nodes", [-1, True, 1.5])
def test_quote_needs_a_node_count(nodes: Any) -> None:
    with pytest.raises(InvalidRequest, match="non-negative integer"):
        quote(FakeProvider(SCRIPT), pool_spec(), nodes)


@pytest.mark.parametrize("nodes", [0, -2, False])
def test_launch_needs_a_positive_count(nodes: Any) -> None:
    with pytest.raises(InvalidRequest, match="positive integer"):
        FakeProvider(SCRIPT).launch("tke-gz6", nodes)


def test_terminate_unknown_ids_terminates_nothing() -> None:
    provider = FakeProvider(SCRIPT)
    [instance] = provider.launch("tke-gz6", 1)
    with pytest.raises(InvalidRequest, match="unknown instance ids: i-404"):
        provider.terminate([instance.id, "i-404"])
    assert provider.alive("tke-gz6") == 1


# ------------------------------------------------------------------------------------------- injected errors


def test_next_quotes_are_throttled_then_succeed() -> None:
    provider = FakeProvider(
        {
            **SCRIPT,
            "errors": [
                {
                    "call": "quote",
                    "error": "Throttled",
                    "times": 2,
                    "retryAfter": "2s",
                    "code": "RequestLimitExceeded",
                }
            ],
        }
    )
    for _ in range(2):
        with pytest.raises(Throttled) as caught:
            quote(provider, pool_spec())
        assert caught.value.retry_after == 2.0
        assert caught.value.code == "RequestLimitExceeded"
        assert caught.value.pool == "tke-gz6"
    assert quote(provider, pool_spec()).in_stock
    assert [c.failed for c in provider.calls_of("quote")] == ["Throttled", "Throttled", None]


def test_errors_can_target_a_pool_and_wait() -> None:
    provider = FakeProvider(
        {
            **SCRIPT,
            "errors": [
                {
                    "call": "launch",
                    "pool": "tke-gz6",
                    "error": "StockOut",
                    "after": 1,
                    "message": "ResourceInsufficient.SpecifiedInstanceType",
                }
            ],
        }
    )
    provider.launch("ack-hz-h")  # another pool: not counted
    provider.launch("tke-gz6")  # the first matching call goes through
    with pytest.raises(StockOut, match=r"ResourceInsufficient\.SpecifiedInstanceType"):
        provider.launch("tke-gz6")
    provider.launch("tke-gz6")  # used up
    assert provider.alive() == 3


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("StockOut", StockOut),
        ("QuotaExceeded", QuotaExceeded),
        ("Throttled", Throttled),
        ("AuthFailed", AuthFailed),
        ("InvalidRequest", InvalidRequest),
        ("Unavailable", Unavailable),
    ],
)
def test_every_error_kind_can_be_injected(name: Any, error: type[ProviderError]) -> None:
    provider = FakeProvider(SCRIPT)
    provider.inject("instances", name)
    with pytest.raises(error, match="injected"):
        instances(provider, pool_spec())
    assert instances(provider, pool_spec()) == []


def test_injected_errors_apply_to_terminate() -> None:
    provider = FakeProvider(SCRIPT)
    [instance] = provider.launch("tke-gz6")
    provider.inject("terminate", "Unavailable")
    with pytest.raises(Unavailable):
        provider.terminate([instance.id])
    assert provider.alive() == 1
    provider.terminate([instance.id])
    assert provider.alive() == 0


def test_inject_validates() -> None:
    provider = FakeProvider(SCRIPT)
    with pytest.raises(InvalidRequest, match="unknown pool"):
        provider.inject("quote", "Throttled", pool="nope")
    with pytest.raises(ValidationError):
        provider.inject("quote", "Boom")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        provider.inject("quote", "Throttled", times=0)


# ------------------------------------------------------------------------------------------- classify


def test_classify() -> None:
    provider = FakeProvider(SCRIPT)
    stock_out = StockOut("sold out")
    assert provider.classify(stock_out) is stock_out
    assert isinstance(provider.classify(TimeoutError()), Unavailable)
    assert isinstance(provider.classify(ConnectionResetError("reset by peer")), Unavailable)
    assert isinstance(provider.classify(ValueError("bad")), InvalidRequest)
    unexpected = provider.classify(RuntimeError("SecretKey=abc123 leaked into an exception"))
    assert isinstance(unexpected, Unavailable)
    assert "abc123" not in str(unexpected)


# ------------------------------------------------------------------------------------------- the script


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        ({"pools": {"p": {"prize": 1}}}, "pools.p.prize: unknown key"),
        ({"pool": {}}, "pool: unknown key"),
        ({"pools": {"p": {"price": -1}}}, "pools.p.price: Input should be greater than or equal to 0"),
        ({"pools": {"p": {"quota": "5"}}}, "pools.p.quota: Input should be a valid integer"),
        ({"pools": {"p": {"stock": "yes"}}}, "pools.p.stock"),
        ({"pools": {"p": {"launchDelay": "soon"}}}, "pools.p.launchDelay: invalid duration 'soon'"),
        (
            {"pools": {"p": {"stock": [{"at": 60, "inStock": False}, {"at": 30, "inStock": True}]}}},
            "strictly increasing",
        ),
        ({"errors": [{"call": "quote", "error": "Boom"}]}, "errors[0].error"),
        ({"errors": [{"call": "reboot", "error": "Throttled"}]}, "errors[0].call"),
        (
            {"pools": {}, "errors": [{"call": "quote", "error": "StockOut", "pool": "p"}]},
            "errors[0].pool 'p' is not among the scripted pools",
        ),
        ({"errors": [{"call": "quote", "error": "StockOut", "retryAfter": 1}]}, "retryAfter only applies"),
    ],
)
def test_script_is_validated_strictly(script: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ScriptError) as caught:
        FakeProvider(script)
    assert fragment in str(caught.value)


def test_script_must_be_a_mapping() -> None:
    with pytest.raises(ScriptError, match="must be a mapping, got list"):
        FakeProvider([1, 2])  # type: ignore[arg-type]


def test_script_from_yaml_and_file(tmp_path: Path) -> None:
    text = "pools:\n  tke-gz6:\n    price: 2.5\n    quota: 3\nerrors:\n  - {call: quote, error: Throttled}\n"
    provider = FakeProvider.from_yaml(text)
    assert provider.script.pools["tke-gz6"].quota == 3
    path = tmp_path / "cloud.yaml"
    path.write_text(text)
    from_file = FakeProvider(script_file=path)
    with pytest.raises(Throttled):
        quote(from_file, pool_spec(instanceType=None))
    assert quote(from_file, pool_spec()).price_per_node_hour == 2.5


def test_script_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="cannot read fake provider script"):
        FakeProvider(script_file=tmp_path / "missing.yaml")
    with pytest.raises(ScriptError, match="not valid YAML"):
        FakeProvider.from_yaml("pools: [")
    with pytest.raises(ScriptError, match="either script or script_file"):
        FakeProvider({}, script_file=tmp_path / "x.yaml")
