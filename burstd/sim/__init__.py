"""The simulator and backtester behind ``burstd simulate``.

It replays a demand trace against a simulated fleet (Karmada division, node provisioning, stock-outs,
per-second billing) on a virtual clock and compares three runs: burstd (the real engine with a policy),
a reactive Cluster-Autoscaler-like baseline, and an oracle that knows the future. See docs/simulation.md.

Entry points: :func:`burstd.sim.simulate.simulate` for a built :class:`~burstd.sim.scenario.Scenario`, and
``burstd.sim.command`` (``add_arguments`` / ``run``) for the command line.
"""
