"""The stages of one ``decide`` call, in order. Each is a pure function of the world, the policy, the
state and the earlier stages' results, returning a frozen result with typed fields (its part of the next
state); ``decide`` builds the next state once from all of them. What the evaluation says (actions,
reasons, wake-up times, alerts) goes to one append-only :class:`~burstd.engine.plan.Plan`, in stage order.

guards -> signals -> outlook -> health -> cloud_answers -> sizing -> allocation -> cloud_share (engine.shifting)
-> nodes (engine.scaling) -> phase
"""
