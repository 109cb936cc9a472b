"""The Alibaba Cloud provider plugin (entry point ``alibabacloud``): ECS stock, price, quota and
instances by tag, and native ACK node pools, through the official async SDKs."""

from burstd_provider_alibabacloud.provider import AlibabaCloudProvider
from burstd_provider_alibabacloud.settings import Settings

__all__ = ["AlibabaCloudProvider", "Settings"]
