"""The three runs side by side on one scenario: burstd (the engine), the reactive baseline, the oracle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from burstd.model.quantities import format_duration
from burstd.sim.metrics import RunResult
from burstd.sim.oracle import run_oracle
from burstd.sim.reactive import run_reactive
from burstd.sim.runner import Decider, Log, run_burstd
from burstd.sim.scenario import Scenario

RUNS = ("burstd", "reactive", "oracle")


@dataclass(frozen=True, slots=True)
class Comparison:
    scenario: Scenario
    runs: dict[str, RunResult]

    def as_dict(self) -> dict[str, Any]:
        """The JSON report: ``{"trace": ..., "settings": ..., "runs": {...}, "ratios": ...}``."""
        s = self.scenario
        trace = s.trace
        burstd, reactive, oracle = (self.runs[name] for name in RUNS)
        return {
            "trace": {
                "name": trace.name,
                "rows": trace.rows,
                "filled_samples": trace.filled,
                "step_s": trace.step,
                "duration_s": trace.duration,
            },
            "settings": {
                "policy": s.policy.name,
                "mode": s.mode,
                "start_time": datetime.fromtimestamp(s.epoch - trace.start, UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "peak_replicas": s.peak_replicas,
                "base_replicas": s.base_replicas,
                "base_replicas_spec": s.base_spec if isinstance(s.base_spec, str) else str(s.base_spec),
                "provision_delay_s": {p.name: p.provision_delay for p in s.pools},
                "replicas_per_node": {p.name: p.replicas_per_node for p in s.pools},
                "seed": s.seed,
                "status_refresh_s": s.status_refresh,
            },
            "runs": {name: result.as_dict() for name, result in self.runs.items()},
            "ratios": {
                "unserved_burstd_vs_reactive": _ratio(
                    burstd.unserved_replica_seconds, reactive.unserved_replica_seconds
                ),
                "cost_burstd_vs_oracle": _ratio(burstd.cost, oracle.cost),
            },
        }

    def headline(self) -> str:
        s = self.scenario
        delays = sorted({p.provision_delay for p in s.pools})
        base = f"{s.base_replicas} replicas" + (f" ({s.base_spec})" if isinstance(s.base_spec, str) else "")
        return (
            f"trace {s.trace.name}, peak {s.peak_replicas} replicas, base {base}, provisioning delay "
            f"{'/'.join(format_duration(d) for d in delays)}, seed {s.seed}"
        )


def _ratio(a: float, b: float) -> float | None:
    """``a / b`` rounded, or None when ``b`` is 0."""
    return None if b == 0 else round(a / b, 4)


def simulate(scenario: Scenario, decider: Decider | None = None, log: Log | None = None) -> Comparison:
    """Run all three. ``decider`` defaults to :func:`burstd.engine.decide`."""
    if decider is None:
        from burstd.engine import decide

        decider = decide
    runs = {
        "burstd": run_burstd(scenario, decider, log),
        "reactive": run_reactive(scenario),
        "oracle": run_oracle(scenario),
    }
    return Comparison(scenario, runs)
