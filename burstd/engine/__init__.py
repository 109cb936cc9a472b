"""The pure decision engine: ``decide(world, policy, state, now) -> Decision``. No I/O, no clock."""

from burstd.engine.decide import decide

__all__ = ["decide"]
