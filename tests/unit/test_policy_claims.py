"""One target, one policy: which policy keeps a target two of them name (``burstd.policy.claims``)."""

from __future__ import annotations

from burstd.policy.claims import Target, claimed, claims_of, overlaps, refusals
from burstd.policy.loader import load_text
from burstd.policy.spec import BurstPolicy

TEMPLATE = """\
apiVersion: burstd.io/v1alpha1
kind: BurstPolicy
metadata: {name: NAME}
spec:
  dryRun: DRY
  workloads:
    - propagationPolicy: {namespace: shop, name: WORKLOAD}
  base: {clusters: [idc-1]}
  burst:
    pools:
      - name: cloud
        provider: tencent
        cluster: tke-gz
        backend: capi-machinedeployment
        ref: {namespace: capi, name: GROUP}
        nodes: {min: 0, max: 10}
        allocatable: {cpu: "8", memory: 32Gi}
        price: {perNodeHour: 2.5}
  triggers:
    scaleOut: {any: [{signal: fhpa.unfitReplicas, above: 0}]}
    scaleIn: {all: [{signal: fhpa.unfitReplicas, below: -2}]}
"""


def make(name: str, workload: str, group: str, *, dry_run: bool = False) -> BurstPolicy:
    text = (
        TEMPLATE.replace("NAME", name)
        .replace("WORKLOAD", workload)
        .replace("GROUP", group)
        .replace("DRY", "true" if dry_run else "false")
    )
    result = load_text(text, f"{name}.yaml")
    assert result.ok, result.errors
    return result.policies[0][1]


def test_claims_name_every_object_a_policy_writes() -> None:
    p = make("p", "web", "md-0")
    assert [(str(c.target), c.path) for c in claims_of(p)] == [
        ("PropagationPolicy shop/web", "spec.workloads[0].propagationPolicy"),
        ("MachineDeployment capi/md-0", "spec.burst.pools[0].ref"),
    ]


def test_the_first_read_keeps_the_target() -> None:
    b, a = make("b", "web", "md-0"), make("a", "api", "md-0")
    held = refusals([b, a])
    assert list(held) == ["a"]
    [conflict] = held["a"]
    assert (conflict.first.policy, conflict.later.policy) == ("b", "a")
    assert conflict.target == Target("MachineDeployment", "capi/md-0")
    assert conflict.message() == (
        "policy a (spec.burst.pools[0].ref) names MachineDeployment capi/md-0, which policy b "
        "(spec.burst.pools[0].ref) already manages"
    )


def test_a_running_policy_keeps_its_targets_whatever_the_order() -> None:
    running, added = make("z-running", "web", "md-0"), make("a-added", "web", "md-1")
    owners = {c.target: c.policy for c in claims_of(running)}
    assert list(refusals([added, running], owners)) == ["a-added"]
    assert list(refusals([added, running])) == ["z-running"]  # at start: the order read


def test_a_held_policy_holds_no_third_one() -> None:
    # b loses shop/web to a; c shares only md-1 with b, which b never got: c runs.
    a, b, c = make("a", "web", "md-0"), make("b", "web", "md-1"), make("c", "api", "md-1")
    assert list(refusals([a, b, c])) == ["b"]
    # policy check reports every later claim, against the first one on the target
    assert [(x.first.policy, x.later.policy, str(x.target)) for x in overlaps([a, b, c])] == [
        ("a", "b", "PropagationPolicy shop/web"),
        ("b", "c", "MachineDeployment capi/md-1"),
    ]


def test_a_dry_run_policy_owns_nothing() -> None:
    live, trial = make("live", "web", "md-0"), make("trial", "web", "md-0", dry_run=True)
    assert claimed(trial) == []
    assert refusals([trial, live]) == {}
    assert overlaps([trial, live]) == []
