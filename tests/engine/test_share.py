"""The cloud share the written weights give at today's demand, divided as the real Karmada scheduler does."""

from __future__ import annotations

from burstd.engine.share import current_share


def test_current_share_breaks_ties_in_the_bindings_order() -> None:
    # weights 1:1 over 3 replicas: the third seat is a tie, won by the name that sorts first (ascending,
    # "idc-1") or last (descending, "tke-gz"), as the template's UID decides in Karmada
    written = {"idc-1": 1, "tke-gz": 1}
    assert current_share(3, written, {"tke-gz"}, observed=0) == 1
    assert current_share(3, written, {"tke-gz"}, observed=0, descending=True) == 2
    # nothing written: what was observed
    assert current_share(3, None, {"tke-gz"}, observed=2) == 2
