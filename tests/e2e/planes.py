"""The two API servers burstd talks to, and the harness's failure type."""

from __future__ import annotations

from typing import NamedTuple

from integration.controlplane import ControlPlane


class Planes(NamedTuple):
    """The Karmada API server and the Cluster API management cluster's, as ``burstd run`` reaches them."""

    karmada: ControlPlane
    management: ControlPlane


class HarnessError(AssertionError):
    """A player or a real controller died, or something waited for did not happen in time."""
