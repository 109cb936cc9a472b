"""burstd's scriptable fake cloud provider, for tests and the simulator.

Registered as ``fake`` in the entry-point group ``burstd.providers``::

    from burstd.cloud import get_provider
    cloud = get_provider("fake", script={"pools": {"tke-gz6": {"price": 2.88, "quota": 40}}})
"""

from burstd_provider_fake.provider import CallRecord, FakeProvider
from burstd_provider_fake.script import (
    ErrorRule,
    NodePoolScript,
    PoolScript,
    Script,
    ScriptError,
    StockChange,
    parse_pool,
    parse_script,
)

__all__ = [
    "CallRecord",
    "ErrorRule",
    "FakeProvider",
    "NodePoolScript",
    "PoolScript",
    "Script",
    "ScriptError",
    "StockChange",
    "parse_pool",
    "parse_script",
]
