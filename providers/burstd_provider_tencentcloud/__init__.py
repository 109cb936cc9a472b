"""burstd's Tencent Cloud provider: CVM stock, price, quota and instance truth, and native TKE node pools,
through the Tencent Cloud SDK (``tencentcloud-sdk-python-common[async]``, ``-cvm``, ``-tke``).

Registered as ``tencentcloud`` in the entry-point group ``burstd.providers``::

    from burstd.cloud import get_provider
    cloud = get_provider("tencentcloud", region="ap-guangzhou", credentials="oidc")
"""

from burstd_provider_tencentcloud.config import CredentialsConfig, ProviderConfig, parse_config
from burstd_provider_tencentcloud.errors import class_for, classify
from burstd_provider_tencentcloud.provider import CHARGE_TYPE, TencentCloudProvider

__all__ = [
    "CHARGE_TYPE",
    "CredentialsConfig",
    "ProviderConfig",
    "TencentCloudProvider",
    "class_for",
    "classify",
    "parse_config",
]
