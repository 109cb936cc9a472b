"""Reading and reloading the daemon's policies: a bad reload changes nothing; a burst is never orphaned."""

from __future__ import annotations

import re
from pathlib import Path

from burstd.engine.retire import effective, pool_target
from burstd.model.state import BurstState, Phase
from burstd.policy.claims import refusals
from burstd.policy.loader import load_text
from burstd.policy.spec import BurstPolicy, PoolSpec, WorkloadSpec
from burstd.runtime.policies import digest_of, merge, read_policies

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "burstd" / "sim" / "data" / "policy.yaml").read_text()


def _rename(name: str) -> str:
    renamed = re.sub(
        r"^(metadata:\s*\n\s+name:)\s*\S+", rf"\g<1> {name}", EXAMPLE, count=1, flags=re.MULTILINE
    )
    assert renamed != EXAMPLE
    return renamed


def policy(name: str) -> BurstPolicy:
    result = load_text(_rename(name), f"{name}.yaml")
    assert result.ok, result.errors
    return result.policies[0][1]


def test_digest_changes_with_content_and_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_rename("a"))
    first = digest_of([tmp_path])
    assert digest_of([tmp_path]) == first
    (tmp_path / "a.yaml").write_text(_rename("a") + "\n# edited\n")
    second = digest_of([tmp_path])
    assert second != first
    (tmp_path / "b.yaml").write_text(_rename("b"))
    assert digest_of([tmp_path]) not in {first, second}


def test_read_policies_reports_every_problem_and_returns_nothing(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(_rename("good"))
    (tmp_path / "bad.yaml").write_text(_rename("bad").replace("kind: BurstPolicy", "kind: BurstPolicyy"))
    found, problems = read_policies([tmp_path], prometheus_configured=False)
    assert found is None
    assert any(p.startswith(f"{tmp_path / 'bad.yaml'}:") for p in problems), problems


def test_read_policies_ok(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_rename("a"))
    found, problems = read_policies([tmp_path], prometheus_configured=False)
    assert problems == []
    assert found is not None
    assert [p.metadata.name for p in found.policies] == ["a"]
    assert found.digest == digest_of([tmp_path])


def test_merge_replaces_adds_and_drops_idle_ones() -> None:
    a, b, c = policy("a"), policy("b"), policy("c")
    running = [a, b]
    merged = merge(running, {"a": BurstState(), "b": BurstState()}, [a, c])
    assert [p.metadata.name for p in merged.policies] == ["a", "c"]
    assert merged.notes == []
    assert merged.states == {}


def test_merge_keeps_a_removed_policy_while_it_bursts() -> None:
    a, b = policy("a"), policy("b")
    merged = merge([a, b], {"a": BurstState(), "b": BurstState(phase=Phase.BURSTING)}, [a])
    assert [p.metadata.name for p in merged.policies] == ["a", "b"]
    assert len(merged.notes) == 1
    assert "policy b was removed from the files but is in phase Bursting" in merged.notes[0]


def _without_pool(p: BurstPolicy, name: str) -> BurstPolicy:
    pools = [x for x in p.spec.burst.pools if x.name != name]
    assert len(pools) < len(p.spec.burst.pools)
    burst = p.spec.burst.model_copy(update={"pools": pools})
    return p.model_copy(update={"spec": p.spec.model_copy(update={"burst": burst})})


def _with_workload(p: BurstPolicy, namespace: str, name: str) -> BurstPolicy:
    extra = WorkloadSpec.model_validate({"propagationPolicy": {"namespace": namespace, "name": name}})
    return p.model_copy(update={"spec": p.spec.model_copy(update={"workloads": [*p.spec.workloads, extra]})})


def test_merge_retires_a_pool_removed_from_a_running_policy() -> None:
    a = policy("a")
    pool = a.spec.burst.pools[-1]
    bursting = BurstState(phase=Phase.BURSTING, pool_targets={pool.name: 3})
    merged = merge([a], {"a": bursting}, [_without_pool(a, pool.name)])
    assert [p.metadata.name for p in merged.policies] == ["a"]
    retiring = merged.states["a"].retiring_pools
    assert list(retiring) == [pool.name]
    assert PoolSpec.model_validate(retiring[pool.name]) == pool  # the spec as it was: a restart finishes
    assert merged.states["a"].pool_targets == {pool.name: 3}
    assert any(f"pool {pool.name} was removed" in n and "drain.maxStep" in n for n in merged.notes)
    # the retiring pool is decided on with no node wanted, and is watched like the others
    running = effective(merged.policies[0], merged.states["a"])
    kept = next(p for p in running.spec.burst.pools if p.name == pool.name)
    assert (kept.nodes.min, kept.nodes.max, kept.ref) == (0, 0, pool.ref)


def test_merge_retires_a_workload_removed_from_a_running_policy() -> None:
    a = policy("a")
    two = _with_workload(a, "shop", "api")
    merged = merge([two], {"a": BurstState(phase=Phase.BURSTING)}, [a])
    assert list(merged.states["a"].retiring_workloads) == ["shop/api"]
    assert any("workload shop/api was removed" in n for n in merged.notes)
    keys = [w.propagation_policy.key for w in effective(a, merged.states["a"]).spec.workloads]
    assert keys[-1] == "shop/api"


def test_merge_hands_a_pool_moved_to_another_policy_over_instead_of_retiring_it() -> None:
    a, b = policy("a"), policy("b")
    moved = a.spec.burst.pools[-1]
    b_without = _without_pool(b, moved.name)  # b names the same object as a's pool
    assert pool_target(moved) in {pool_target(p) for p in b.spec.burst.pools}
    merged = merge([a, b_without], {"a": BurstState(), "b": BurstState()}, [_without_pool(a, moved.name), b])
    assert merged.states == {}
    assert merged.notes == []


def test_merge_stops_retiring_a_pool_put_back() -> None:
    a = policy("a")
    pool = a.spec.burst.pools[-1]
    without = _without_pool(a, pool.name)
    retiring = merge([a], {"a": BurstState(phase=Phase.BURSTING)}, [without]).states["a"]
    assert retiring.retiring_pools
    merged = merge([without], {"a": retiring}, [a])
    assert merged.states["a"].retiring_pools == {}


def test_merge_keeps_a_removed_idle_policy_until_what_it_retires_is_gone() -> None:
    a, b = policy("a"), policy("b")
    pool = a.spec.burst.pools[-1]
    retiring = merge([a], {"a": BurstState()}, [_without_pool(a, pool.name)]).states["a"]
    merged = merge([a, b], {"a": retiring, "b": BurstState()}, [b])
    assert [p.metadata.name for p in merged.policies] == ["b", "a"]


def test_read_policies_returns_policies_that_name_one_target_for_the_daemon_to_settle(tmp_path: Path) -> None:
    # Each policy is valid on its own; two naming one target are not a reason to refuse every policy.
    (tmp_path / "b.yaml").write_text(_rename("b"))
    (tmp_path / "a.yaml").write_text(_rename("a"))
    found, problems = read_policies([tmp_path], prometheus_configured=False)
    assert problems == []
    assert found is not None
    assert [p.metadata.name for p in found.policies] == ["a", "b"]  # the order read: files sorted by name
    assert refusals(found.policies).keys() == {"b"}


def _configmap_volume(root: Path, generation: int, files: dict[str, str]) -> None:
    """Write ``files`` the way the kubelet updates a ConfigMap volume: into a new hidden timestamped
    directory, then swap the ``..data`` symlink to it in one rename; each file in the mount is a symlink
    through ``..data``."""
    payload = root / f"..2026_11_30_00_00_0{generation}.000000001"
    payload.mkdir()
    for name, text in files.items():
        (payload / name).write_text(text)
    swap = root / "..data_tmp"
    swap.symlink_to(payload.name)
    swap.rename(root / "..data")
    for name in files:
        link = root / name
        if not link.is_symlink():
            link.symlink_to(Path("..data") / name)
    for link in root.iterdir():
        if link.is_symlink() and link.name != "..data" and link.name not in files:
            link.unlink()


def test_a_configmap_volume_swap_is_read_once_and_seen(tmp_path: Path) -> None:
    _configmap_volume(tmp_path, 1, {"a.yaml": _rename("a")})
    found, problems = read_policies([tmp_path], prometheus_configured=False)
    assert problems == []
    assert found is not None
    # the hidden payload directories are not read a second time
    assert [p.metadata.name for p in found.policies] == ["a"]
    first = found.digest
    # the kubelet's swap: new content and a second file, behind the same paths
    _configmap_volume(tmp_path, 2, {"a.yaml": _rename("a") + "\n# edited\n", "b.yaml": _rename("b")})
    assert digest_of([tmp_path]) != first
    found, problems = read_policies([tmp_path], prometheus_configured=False)
    assert problems == []
    assert found is not None
    assert [p.metadata.name for p in found.policies] == ["a", "b"]
    # a file dropped from the ConfigMap is gone after the next swap
    _configmap_volume(tmp_path, 3, {"b.yaml": _rename("b")})
    found, _ = read_policies([tmp_path], prometheus_configured=False)
    assert found is not None
    assert [p.metadata.name for p in found.policies] == ["b"]
