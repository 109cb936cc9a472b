"""The pure pieces of the cloud seam: instance ids from providerIDs, the orphan scan with its grace, and
how a pool's observed state takes what the provider said (``apply_cloud``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from burstd.engine.pools import price_of
from burstd.engine.quotes import PoolCloudObs, apply_cloud
from burstd.kube.parse_capi import parse_machine
from burstd.model.cloud import Instance, InstanceState, NodePool, NodePoolMember, Quote
from burstd.model.world import PoolState
from burstd.policy.spec import BurstPolicy, parse_document
from burstd.runtime.orphans import instance_id_of, node_pool_instance_ids, scan

from .fakes import POOL, T0, policy

GRACE = 600.0


@pytest.mark.parametrize(
    ("provider_id", "instance_id"),
    [
        ("tencentcloud:///ap-guangzhou-3/ins-abc", "ins-abc"),
        ("qcloud:///800002/ins-3kx7q2lz", "ins-3kx7q2lz"),
        ("cn-hangzhou.i-bp1abc", "i-bp1abc"),
        ("alicloud://cn-hangzhou.i-bp1abc", "i-bp1abc"),
        ("aws:///us-east-1a/i-0123456789/", "i-0123456789"),
    ],
)
def test_the_instance_id_is_the_provider_ids_last_segment(provider_id: str, instance_id: str) -> None:
    assert instance_id_of(provider_id) == instance_id


def test_a_machines_provider_id_is_parsed() -> None:
    obj: dict[str, Any] = {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Machine",
        "metadata": {"name": "m-0", "namespace": "capi", "creationTimestamp": "2023-11-14T22:13:20Z"},
        "spec": {"providerID": "tencentcloud:///ap-guangzhou-6/ins-abc"},
    }
    assert parse_machine(obj, T0).provider_id == "tencentcloud:///ap-guangzhou-6/ins-abc"
    del obj["spec"]
    assert parse_machine(obj, T0).provider_id is None


def inst(i: str, state: str = "running", created: float = T0 - 3600) -> Instance:
    return Instance(i, POOL, InstanceState(state), created)


def test_unmatched_instances_become_orphans_only_after_the_grace_on_a_fresh_listing() -> None:
    instances = [inst("ins-a"), inst("ins-b"), inst("ins-gone", "terminated"), inst("ins-new", created=T0)]
    first = scan(instances, T0, {"ins-a"}, {}, T0, GRACE)
    assert first.orphans == ()
    assert first.unmatched_since == {"ins-b": T0, "ins-new": T0}
    assert not first.recheck
    # the grace is over but the listing is older than that: list again first
    later = scan(instances, T0, {"ins-a"}, first.unmatched_since, T0 + GRACE, GRACE)
    assert later.orphans == ()
    assert later.recheck
    listed = scan(instances, T0 + GRACE, {"ins-a"}, first.unmatched_since, T0 + GRACE, GRACE)
    assert listed.orphans == ("ins-b", "ins-new")
    # a member behind it again (a Machine got its providerID): no longer unmatched
    matched = scan(
        instances, T0 + GRACE, {"ins-a", "ins-b", "ins-new"}, listed.unmatched_since, T0 + GRACE, GRACE
    )
    assert matched.orphans == ()
    assert matched.unmatched_since == {}


def test_a_young_instance_has_its_whole_grace_from_its_launch() -> None:
    young = [inst("ins-y", "pending", created=T0 + 100)]
    since = {"ins-y": T0}
    assert scan(young, T0 + GRACE, set(), since, T0 + GRACE, GRACE).orphans == ()
    assert scan(young, T0 + GRACE + 100, set(), since, T0 + GRACE + 100, GRACE).orphans == ("ins-y",)


def test_node_pool_members_are_matched_by_instance_id() -> None:
    pool = NodePool(
        "np-1", 2, (NodePoolMember("ins-1", "n1", True, T0), NodePoolMember("ins-2", None, False, T0))
    )
    assert node_pool_instance_ids(pool) == {"ins-1", "ins-2"}


# --- apply_cloud -----------------------------------------------------------------------------------


def state(**changes: Any) -> PoolState:
    return replace(PoolState(POOL, desired=2, ready=2, existing=2, failed=0, observed_at=T0), **changes)


def spec(price: dict[str, Any] | None = None) -> Any:
    doc = policy().model_dump(by_alias=True, mode="json", exclude_none=True)
    doc["spec"]["burst"]["pools"][0]["price"] = price or {"source": "provider", "currency": "CNY"}
    parsed = parse_document(doc)
    assert isinstance(parsed, BurstPolicy)
    return parsed.spec.burst.pools[0]


QUOTE = Quote(in_stock=True, quota_headroom_nodes=5, price_per_node_hour=2.5, currency="CNY")


def test_a_fresh_quote_sets_stock_quota_and_price() -> None:
    got = apply_cloud(state(), spec(), PoolCloudObs(QUOTE, T0))
    assert (got.stock_out, got.quota_headroom, got.price_per_node_hour, got.unavailable) == (
        False,
        5,
        2.5,
        None,
    )
    sold_out = Quote(False, 5, 2.5, "CNY")
    assert apply_cloud(state(), spec(), PoolCloudObs(sold_out, T0)).stock_out


def test_no_observation_changes_nothing() -> None:
    assert apply_cloud(state(), spec(), None) == state()


@pytest.mark.parametrize(
    ("obs", "expected"),
    [
        (PoolCloudObs(error_reason="StockOut", error="sold out"), {"stock_out": True, "unavailable": None}),
        (PoolCloudObs(error_reason="QuotaExceeded", error="no quota"), {"quota_headroom": 0}),
        (
            PoolCloudObs(error_reason="Unavailable", error="timeout"),
            {"unavailable": "Unavailable: timeout", "unavailable_reason": "Unavailable"},
        ),
        (
            PoolCloudObs(QUOTE, T0, error_reason="Unavailable", error="timeout"),
            {"unavailable": None, "price_per_node_hour": 2.5},
        ),
        (
            PoolCloudObs(QUOTE, T0, error_reason="AuthFailed", error="AuthFailed: bad key"),
            {"unavailable_reason": "AuthFailed"},
        ),
        (
            PoolCloudObs(Quote(True, 5, 0.4, "USD"), T0),
            {"unavailable_reason": "CurrencyMismatch", "price_per_node_hour": None},
        ),
        (PoolCloudObs(orphans=("ins-9",)), {"orphans": ("ins-9",)}),
    ],
)
def test_errors_and_quotes_map_onto_the_pool(obs: PoolCloudObs, expected: dict[str, Any]) -> None:
    got = apply_cloud(state(), spec(), obs)
    assert {k: getattr(got, k) for k in expected} == expected


def test_a_static_price_is_not_replaced_but_the_quote_is_kept_for_metrics() -> None:
    static = spec({"perNodeHour": 3.0, "currency": "CNY"})
    got = apply_cloud(state(), static, PoolCloudObs(QUOTE, T0))
    assert got.price_per_node_hour == 2.5  # the engine's price_of still takes the static 3.0
    assert price_of(static, got) == 3.0
