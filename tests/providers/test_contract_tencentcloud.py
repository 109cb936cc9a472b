"""The provider contract, passed by the Tencent Cloud provider through the real SDK against the strict fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.contract import ContractHarness, ProviderContract
from providers.fake_tencentcloud import FakeTencentCloud
from providers.tencent_harness import TencentCloudHarness


class TestTencentCloudContract(ProviderContract):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> Iterator[ContractHarness]:
        with FakeTencentCloud() as fake:
            yield TencentCloudHarness(fake, tmp_path)
