"""A strict fake Tencent Cloud API (CVM 2017-03-12, TKE 2018-05-25, STS 2018-08-13) for tests.

An aiohttp server on 127.0.0.1 in a background thread with its own event loop, so it serves the real SDK
from a pytest test (any event loop) or from a burstd daemon subprocess alike. Like the real API it:

- verifies TC3-HMAC-SHA256: recomputes the canonical request and the signature with the SecretKey it knows
  for the request's SecretId (unknown id -> ``AuthFailure.SecretIdNotFound``, wrong signature ->
  ``AuthFailure.SignatureFailure``, a timestamp more than 5 minutes off -> ``AuthFailure.SignatureExpire``,
  a temporary key without its token -> ``AuthFailure.TokenFailure``);
- routes by ``X-TC-Action`` and the credential scope's service, checks ``X-TC-Version`` and
  ``X-TC-Region``, and each action's required parameters, filters and limits;
- answers HTTP 200 with ``{"Response": {..., "RequestId"}}``, errors as ``{"Response": {"Error": {"Code",
  "Message"}, "RequestId"}}``.

State: instance type offers per zone (stock, price), pay-as-you-go quota per zone, CVM instances with tags,
TKE node pools whose desired count launches members (initializing until ``launch_delay`` has passed on the
injectable ``clock``, then running) and removes them, scripted failures and stalls, and a request log. Every
scripting method is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import math
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

__all__ = [
    "CVM_VERSION",
    "STS_VERSION",
    "TKE_VERSION",
    "ApiError",
    "FakeTencentCloud",
    "LoggedRequest",
]

CVM_VERSION: Final = "2017-03-12"
TKE_VERSION: Final = "2018-05-25"
STS_VERSION: Final = "2018-08-13"
VERSIONS: Final = {"cvm": CVM_VERSION, "tke": TKE_VERSION, "sts": STS_VERSION}
POOL_TAG: Final = "burstd.io/pool"
MAX_SKEW: Final = 300.0
_AUTH = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)/tc3_request, "
    r"SignedHeaders=(?P<headers>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)
_INSTANCE_ID = re.compile(r"^ins-[0-9a-z]{8}$")


class ApiError(Exception):
    """An error answer: HTTP 200 + Response.Error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    service: str
    action: str
    params: Mapping[str, Any]
    #: the error code answered, None for a success
    error: str | None
    at: float


@dataclass(slots=True)
class _Offer:
    in_stock: bool = True
    price: float = 1.0
    #: the account's discounted price; None: no discount
    discount_price: float | None = None


@dataclass(slots=True)
class _Instance:
    id: str
    zone: str
    instance_type: str
    tags: dict[str, str]
    state: str
    created_at: float
    lan_ip: str
    #: for node-pool members: when the node turns running (inf: never)
    ready_at: float = 0.0
    failed: bool = False
    node_pool: tuple[str, str] | None = None
    terminated: bool = False


@dataclass(slots=True)
class _NodePool:
    cluster_id: str
    node_pool_id: str
    zone: str
    instance_type: str
    tags: dict[str, str]
    desired: int
    min_nodes: int
    max_nodes: int
    autoscaling: bool
    members: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Failure:
    code: str | None
    message: str
    remaining: int
    stall: float | None = None
    http_status: int | None = None


@dataclass(slots=True)
class _Role:
    role_arn: str
    provider_id: str
    web_identity_token: str
    #: seconds the issued keys live; None: the requested DurationSeconds
    lifetime: int | None


def _date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tc3_signature(
    *,
    secret_key: str,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload: bytes,
    timestamp: str,
    date: str,
    service: str,
) -> str:
    """The TC3-HMAC-SHA256 signature of a request, computed from the documented algorithm."""
    canonical_headers = "".join(
        f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed_headers
    )
    payload_hash = (
        hashlib.sha256(b"UNSIGNED-PAYLOAD").hexdigest()
        if headers.get("x-tc-content-sha256") == "UNSIGNED-PAYLOAD"
        else hashlib.sha256(payload).hexdigest()
    )
    canonical_request = "\n".join(
        [method, path, query, canonical_headers, ";".join(signed_headers), payload_hash]
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(
        ["TC3-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    signing_key = mac(mac(mac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()


class FakeTencentCloud:
    """The fake API. Use as a context manager (or ``start()``/``close()``); ``endpoint`` is host:port."""

    def __init__(
        self,
        *,
        secret_id: str = "AKIDfaketestsecretid0000000000000000",
        secret_key: str = "fakeTestSecretKey0000000000000000",
        region: str = "ap-guangzhou",
        clock: Callable[[], float] = time.time,
        signature_clock: Callable[[], float] = time.time,
        launch_delay: float = 0.0,
        app_id: int = 1250000000,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.region = region
        self.secret_id = secret_id
        self.secret_key = secret_key
        self._clock = clock
        self._signature_clock = signature_clock
        self._launch_delay = launch_delay
        self._app_id = app_id
        self._tls = tls
        self._lock = threading.RLock()
        self._keys: dict[str, tuple[str, str | None, float]] = {secret_id: (secret_key, None, math.inf)}
        self._offers: dict[tuple[str, str], _Offer] = {}
        self._quota_total: dict[str, int] = {}
        self._images: set[str] = {"img-burstd01"}
        self._instances: dict[str, _Instance] = {}
        self._node_pools: dict[tuple[str, str], _NodePool] = {}
        self._clusters: set[str] = set()
        self._failures: dict[str, list[_Failure]] = {}
        self._log: list[LoggedRequest] = []
        self._roles: list[_Role] = []
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None
        self.port = 0

    # ---------------------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> FakeTencentCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        self._loop = loop
        started = threading.Event()

        async def serve() -> None:
            self._release = asyncio.Event()
            app = web.Application()
            app.router.add_post("/", self._handle)
            self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
            await web.SockSite(self._runner, sock, ssl_context=self._tls).start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-tencentcloud-{self.port}", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the fake Tencent Cloud API did not start within 10 s")

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def stop() -> None:
            if self._release is not None:
                self._release.set()  # end stalled requests
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    # ---------------------------------------------------------------------------------------- scripting

    def add_credential(self, secret_id: str, secret_key: str, token: str | None = None) -> None:
        with self._lock:
            self._keys[secret_id] = (secret_key, token, math.inf)

    def revoke_credential(self, secret_id: str) -> None:
        """Requests signed with ``secret_id`` fail with AuthFailure.SecretIdNotFound from now on."""
        with self._lock:
            self._keys.pop(secret_id, None)

    def add_image(self, image_id: str) -> None:
        with self._lock:
            self._images.add(image_id)

    def add_offer(
        self,
        zone: str,
        instance_type: str,
        *,
        in_stock: bool = True,
        price: float = 1.0,
        discount_price: float | None = None,
    ) -> None:
        with self._lock:
            self._offers[(zone, instance_type)] = _Offer(in_stock, price, discount_price)

    def set_stock(self, zone: str, instance_type: str, in_stock: bool) -> None:
        with self._lock:
            self._offers.setdefault((zone, instance_type), _Offer()).in_stock = in_stock

    def set_price(
        self, zone: str, instance_type: str, price: float, *, discount_price: float | None = None
    ) -> None:
        with self._lock:
            offer = self._offers.setdefault((zone, instance_type), _Offer())
            offer.price, offer.discount_price = price, discount_price

    def set_quota(self, zone: str, total: int) -> None:
        """The zone's pay-as-you-go instance quota (used = its live instances)."""
        with self._lock:
            self._quota_total[zone] = total

    def set_quota_headroom(self, zone: str, nodes: int) -> None:
        with self._lock:
            self._quota_total[zone] = self._used(zone) + nodes

    def add_instance(
        self,
        zone: str,
        instance_type: str,
        *,
        pool: str | None = None,
        state: str = "RUNNING",
        created_at: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """A CVM instance (tagged ``burstd.io/pool=pool`` when ``pool`` is given); its id."""
        all_tags = dict(tags or {})
        if pool is not None:
            all_tags[POOL_TAG] = pool
        with self._lock:
            return self._new_instance(zone, instance_type, all_tags, state, created_at).id

    def leak_instance(
        self, pool: str, *, zone: str = "ap-guangzhou-3", instance_type: str = "S5.LARGE8"
    ) -> str:
        """A running instance tagged for ``pool`` that no node pool or Machine owns (a leak)."""
        return self.add_instance(zone, instance_type, pool=pool)

    def instances_of(self, pool: str) -> set[str]:
        """Ids of the live (not terminated) instances tagged ``burstd.io/pool=pool``."""
        with self._lock:
            return {
                i.id for i in self._instances.values() if not i.terminated and i.tags.get(POOL_TAG) == pool
            }

    def instance_state(self, instance_id: str) -> str:
        with self._lock:
            instance = self._instances[instance_id]
            return "TERMINATED" if instance.terminated else self._cvm_state(instance)

    def add_node_pool(
        self,
        cluster_id: str,
        node_pool_id: str,
        *,
        zone: str,
        instance_type: str,
        pool: str | None = None,
        ready: Sequence[bool] = (),
        autoscaling: bool = False,
        min_nodes: int = 0,
        max_nodes: int = 100,
    ) -> list[str]:
        """A TKE node pool with one member per ``ready`` entry (running, or initializing for good); the
        members' instance ids. Members launched later by a raised desired count carry ``pool``'s tag."""
        tags = {POOL_TAG: pool} if pool is not None else {}
        with self._lock:
            self._clusters.add(cluster_id)
            node_pool = _NodePool(
                cluster_id,
                node_pool_id,
                zone,
                instance_type,
                tags,
                len(ready),
                min_nodes,
                max_nodes,
                autoscaling,
            )
            self._node_pools[(cluster_id, node_pool_id)] = node_pool
            ids = []
            for is_ready in ready:
                member = self._launch(node_pool)
                member.ready_at = self._clock() if is_ready else math.inf
                ids.append(member.id)
            return ids

    def add_cluster(self, cluster_id: str) -> None:
        with self._lock:
            self._clusters.add(cluster_id)

    def node_pool_desired(self, cluster_id: str, node_pool_id: str) -> int:
        with self._lock:
            return self._node_pools[(cluster_id, node_pool_id)].desired

    def node_pool_members(self, cluster_id: str, node_pool_id: str) -> list[str]:
        with self._lock:
            node_pool = self._node_pools[(cluster_id, node_pool_id)]
            self._reconcile(node_pool)
            return list(node_pool.members)

    def ready_members(self, cluster_id: str, node_pool_id: str) -> list[str]:
        with self._lock:
            node_pool = self._node_pools[(cluster_id, node_pool_id)]
            self._reconcile(node_pool)
            now = self._clock()
            return [m for m in node_pool.members if self._instances[m].ready_at <= now]

    def fail(self, action: str, code: str, *, times: int = 1, message: str | None = None) -> None:
        """The next ``times`` requests of ``action`` are answered with error ``code``."""
        with self._lock:
            self._failures.setdefault(action, []).append(_Failure(code, message or f"injected {code}", times))

    def fail_http(self, action: str, status: int = 502, *, times: int = 1) -> None:
        """The next ``times`` requests of ``action`` get a bare HTTP ``status`` (a broken gateway)."""
        with self._lock:
            self._failures.setdefault(action, []).append(
                _Failure(None, "bad gateway", times, http_status=status)
            )

    def stall(self, action: str, *, times: int = 1, seconds: float = 60.0) -> None:
        """The next ``times`` requests of ``action`` get no answer for ``seconds`` (or until close)."""
        with self._lock:
            self._failures.setdefault(action, []).append(_Failure(None, "stalled", times, stall=seconds))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def requests(self, action: str | None = None) -> list[LoggedRequest]:
        """The requests received (all, or one action's), oldest first; failed ones included."""
        with self._lock:
            return [r for r in self._log if action is None or r.action == action]

    def add_oidc_role(
        self, *, role_arn: str, provider_id: str, web_identity_token: str, lifetime: int | None = None
    ) -> None:
        """STS AssumeRoleWithWebIdentity accepts this (role, provider, token) and issues temporary keys that
        live ``lifetime`` seconds (default: the DurationSeconds asked for)."""
        with self._lock:
            self._roles.append(_Role(role_arn, provider_id, web_identity_token, lifetime))

    def issued_keys(self) -> list[tuple[str, str, str | None]]:
        """The temporary (SecretId, SecretKey, Token) that STS issued, oldest first."""
        with self._lock:
            return [(k, v[0], v[1]) for k, v in self._keys.items() if v[1] is not None]

    # ---------------------------------------------------------------------------------------- state

    def _used(self, zone: str) -> int:
        return sum(1 for i in self._instances.values() if i.zone == zone and not i.terminated)

    def _new_instance(
        self, zone: str, instance_type: str, tags: dict[str, str], state: str, created_at: float | None
    ) -> _Instance:
        n = next(self._ids)
        instance = _Instance(
            id=f"ins-{n:08x}",
            zone=zone,
            instance_type=instance_type,
            tags=tags,
            state=state,
            created_at=self._clock() if created_at is None else created_at,
            lan_ip=f"10.0.{n // 250}.{n % 250 + 2}",
        )
        self._instances[instance.id] = instance
        return instance

    def _launch(self, node_pool: _NodePool) -> _Instance:
        instance = self._new_instance(
            node_pool.zone, node_pool.instance_type, dict(node_pool.tags), "PENDING", None
        )
        instance.node_pool = (node_pool.cluster_id, node_pool.node_pool_id)
        instance.ready_at = self._clock() + self._launch_delay
        node_pool.members.append(instance.id)
        return instance

    def _terminate(self, instance: _Instance) -> None:
        instance.terminated = True
        if instance.node_pool is not None:
            node_pool = self._node_pools.get(instance.node_pool)
            if node_pool is not None and instance.id in node_pool.members:
                node_pool.members.remove(instance.id)

    def _reconcile(self, node_pool: _NodePool) -> None:
        """The autoscaling group converges on its desired count: it launches or removes (newest first)."""
        node_pool.members = [m for m in node_pool.members if not self._instances[m].terminated]
        while len(node_pool.members) < node_pool.desired:
            self._launch(node_pool)
        while len(node_pool.members) > node_pool.desired:
            self._terminate(self._instances[node_pool.members[-1]])

    def _cvm_state(self, instance: _Instance) -> str:
        if instance.node_pool is not None and instance.state == "PENDING":
            return "RUNNING" if instance.ready_at <= self._clock() else "PENDING"
        return instance.state

    # ---------------------------------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        action = headers.get("x-tc-action", "")
        service = "?"
        params: dict[str, Any] = {}
        try:
            if headers.get("content-type", "").split(";")[0].strip() != "application/json":
                raise ApiError("InvalidParameter", "Content-Type must be application/json for POST")
            try:
                loaded = json.loads(body or b"{}")
            except ValueError:
                raise ApiError("InvalidParameter", "the body is not JSON") from None
            if not isinstance(loaded, dict):
                raise ApiError("InvalidParameter", "the body is not a JSON object")
            params = loaded
            for name in ("x-tc-action", "x-tc-version", "x-tc-timestamp"):
                if not headers.get(name):
                    raise ApiError("MissingParameter", f"the header {name} is missing")
            service = self._authenticate(request, headers, body, action)
            if headers["x-tc-version"] != VERSIONS[service]:
                raise ApiError(
                    "NoSuchVersion", f"version {headers['x-tc-version']} of {service} does not exist"
                )
            handler = self._handlers().get((service, action))
            if handler is None:
                raise ApiError("InvalidAction", f"action {action} of {service} does not exist")
            if service != "sts" and headers.get("x-tc-region") != self.region:
                raise ApiError(
                    "UnsupportedRegion", f"region {headers.get('x-tc-region')!r} is not served here"
                )
            failure = self._next_failure(action)
            if failure is not None:
                if failure.stall is not None:
                    self._record(service, action, params, "Stall")
                    assert self._release is not None
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._release.wait(), failure.stall)
                    raise ApiError("InternalError", "stalled")
                if failure.http_status is not None:
                    self._record(service, action, params, f"HTTP{failure.http_status}")
                    return web.Response(status=failure.http_status, text='{"message": "bad gateway"}')
                assert failure.code is not None
                raise ApiError(failure.code, failure.message)
            with self._lock:
                result = handler(params)
            self._record(service, action, params, None)
            return self._answer(result)
        except ApiError as error:
            if error.message != "stalled":
                self._record(service, action, params, error.code)
            return self._answer({"Error": {"Code": error.code, "Message": error.message}})

    def _record(self, service: str, action: str, params: Mapping[str, Any], error: str | None) -> None:
        with self._lock:
            self._log.append(LoggedRequest(service, action, params, error, self._clock()))

    def _next_failure(self, action: str) -> _Failure | None:
        with self._lock:
            queue = self._failures.get(action) or []
            while queue and queue[0].remaining <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].remaining -= 1
            return queue[0]

    @staticmethod
    def _answer(response: dict[str, Any]) -> web.Response:
        response["RequestId"] = str(uuid.uuid4())
        return web.Response(
            body=json.dumps({"Response": response}).encode(), headers={"Content-Type": "application/json"}
        )

    def _authenticate(
        self, request: web.Request, headers: Mapping[str, str], body: bytes, action: str
    ) -> str:
        """The request's service, once its signature is proven; ApiError otherwise."""
        authorization = headers.get("authorization", "")
        if authorization == "SKIP" and action == "AssumeRoleWithWebIdentity":
            return "sts"  # STS takes AssumeRoleWithWebIdentity unsigned: the OIDC token is the proof
        match = _AUTH.match(authorization)
        if match is None:
            raise ApiError("AuthFailure.InvalidAuthorization", "the Authorization header is malformed")
        service = match["service"]
        if service not in VERSIONS:
            raise ApiError("AuthFailure.InvalidAuthorization", f"unknown service {service!r} in the scope")
        try:
            timestamp = int(headers["x-tc-timestamp"])
        except ValueError:
            raise ApiError("InvalidParameter", "X-TC-Timestamp is not an integer") from None
        if abs(self._signature_clock() - timestamp) > MAX_SKEW:
            raise ApiError(
                "AuthFailure.SignatureExpire", "the request's timestamp is more than 5 minutes off"
            )
        if match["date"] != _date(timestamp):
            raise ApiError(
                "AuthFailure.SignatureFailure", "the credential scope's date is not the timestamp's"
            )
        signed = match["headers"].split(";")
        if "content-type" not in signed or "host" not in signed:
            raise ApiError("AuthFailure.SignatureFailure", "SignedHeaders must include content-type and host")
        with self._lock:
            key = self._keys.get(match["id"])
        if key is None:
            raise ApiError("AuthFailure.SecretIdNotFound", "the SecretId is not found")
        secret_key, token, expires = key
        expected = tc3_signature(
            secret_key=secret_key,
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=headers,
            signed_headers=signed,
            payload=body,
            timestamp=headers["x-tc-timestamp"],
            date=match["date"],
            service=service,
        )
        if not hmac.compare_digest(expected, match["signature"]):
            raise ApiError("AuthFailure.SignatureFailure", "the request signature does not match")
        if token is not None:
            if headers.get("x-tc-token") != token:
                raise ApiError(
                    "AuthFailure.TokenFailure", "the temporary credential's token is missing or wrong"
                )
            if self._signature_clock() >= expires:
                raise ApiError("AuthFailure.TokenFailure", "the temporary credential has expired")
        return service

    # ---------------------------------------------------------------------------------------- actions

    def _handlers(self) -> dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            ("cvm", "DescribeZoneInstanceConfigInfos"): self._describe_zone_instance_config_infos,
            ("cvm", "InquiryPriceRunInstances"): self._inquiry_price_run_instances,
            ("cvm", "DescribeAccountQuota"): self._describe_account_quota,
            ("cvm", "DescribeInstances"): self._describe_instances,
            ("cvm", "TerminateInstances"): self._terminate_instances,
            ("tke", "DescribeClusterNodePoolDetail"): self._describe_cluster_node_pool_detail,
            ("tke", "DescribeClusterInstances"): self._describe_cluster_instances,
            ("tke", "ModifyNodePoolDesiredCapacityAboutAsg"): self._modify_desired_capacity,
            ("tke", "DeleteClusterInstances"): self._delete_cluster_instances,
            ("sts", "AssumeRoleWithWebIdentity"): self._assume_role_with_web_identity,
        }

    @staticmethod
    def _filters(params: Mapping[str, Any], known: Sequence[str]) -> dict[str, list[str]]:
        raw = params.get("Filters") or []
        if not isinstance(raw, list) or len(raw) > 10:
            raise ApiError("InvalidParameterValue", "Filters must be a list of at most 10 filters")
        filters: dict[str, list[str]] = {}
        for item in raw:
            name, values = item.get("Name"), item.get("Values")
            if not isinstance(name, str) or not isinstance(values, list) or not values:
                raise ApiError("InvalidFilter", "each filter needs a Name and a non-empty list of Values")
            if len(values) > 100:
                raise ApiError("InvalidFilterValue.LimitExceeded", f"filter {name} has more than 100 values")
            if name not in known and not (name.startswith("tag:") and "tag:" in known):
                raise ApiError("InvalidFilter", f"filter {name} is not supported")
            filters[name] = [str(v) for v in values]
        return filters

    @staticmethod
    def _page(params: Mapping[str, Any]) -> tuple[int, int]:
        offset, limit = params.get("Offset", 0), params.get("Limit", 20)
        if not isinstance(offset, int) or offset < 0:
            raise ApiError("InvalidParameterValue", f"Offset must be an integer >= 0, got {offset!r}")
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ApiError("InvalidParameterValue", f"Limit must be an integer from 1 to 100, got {limit!r}")
        return offset, limit

    @staticmethod
    def _require(params: Mapping[str, Any], *names: str) -> None:
        for name in names:
            value: Any = params
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value is None or value in ("", []):
                raise ApiError("MissingParameter", f"the parameter {name} is missing")

    def _describe_zone_instance_config_infos(self, params: dict[str, Any]) -> dict[str, Any]:
        filters = self._filters(
            params, ("zone", "instance-family", "instance-type", "instance-charge-type", "sort-keys")
        )
        items = []
        for (zone, instance_type), offer in sorted(self._offers.items()):
            if "zone" in filters and zone not in filters["zone"]:
                continue
            if "instance-type" in filters and instance_type not in filters["instance-type"]:
                continue
            if "instance-family" in filters and instance_type.split(".")[0] not in filters["instance-family"]:
                continue
            if (
                "instance-charge-type" in filters
                and "POSTPAID_BY_HOUR" not in filters["instance-charge-type"]
            ):
                continue
            items.append(
                {
                    "Zone": zone,
                    "InstanceType": instance_type,
                    "InstanceChargeType": "POSTPAID_BY_HOUR",
                    "NetworkCard": 0,
                    "Externals": {},
                    "Cpu": 4,
                    "Memory": 8,
                    "InstanceFamily": instance_type.split(".")[0],
                    "TypeName": f"Standard {instance_type.split('.')[0]}",
                    "LocalDiskTypeList": [],
                    "Status": "SELL" if offer.in_stock else "SOLD_OUT",
                    "Price": self._item_price(offer),
                    "SoldOutReason": "" if offer.in_stock else "Resources are sold out in this zone",
                    "InstanceBandwidth": 1.5,
                    "InstancePps": 30,
                    "StorageBlockAmount": 0,
                    "CpuType": "Intel Xeon Cascade Lake",
                    "Gpu": 0,
                    "Fpga": 0,
                    "Remark": "",
                    "GpuCount": 0,
                    "Frequency": "2.5GHz",
                    "StatusCategory": "EnoughStock" if offer.in_stock else "WithoutStock",
                }
            )
        return {"InstanceTypeQuotaSet": items}

    @staticmethod
    def _item_price(offer: _Offer) -> dict[str, Any]:
        discounted = offer.price if offer.discount_price is None else offer.discount_price
        return {
            "UnitPrice": offer.price,
            "ChargeUnit": "HOUR",
            "UnitPriceDiscount": discounted,
            "Discount": round(100.0 * discounted / offer.price, 2) if offer.price else 100.0,
        }

    def _inquiry_price_run_instances(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("LaunchTemplate"):
            self._require(params, "Placement.Zone", "ImageId")
        charge = params.get("InstanceChargeType", "POSTPAID_BY_HOUR")
        if charge not in ("PREPAID", "POSTPAID_BY_HOUR", "SPOTPAID", "CDHPAID"):
            raise ApiError("InvalidParameterValue", f"InstanceChargeType {charge!r} is not valid")
        if charge != "POSTPAID_BY_HOUR":
            raise ApiError("UnsupportedOperation", "this fake prices pay-as-you-go only")
        count = params.get("InstanceCount", 1)
        if not isinstance(count, int) or not 1 <= count <= 100:
            raise ApiError("InvalidParameterValue", f"InstanceCount must be from 1 to 100, got {count!r}")
        image = params["ImageId"]
        if not re.fullmatch(r"img-[0-9a-z]{8}", str(image)):
            raise ApiError("InvalidImageId.Malformed", f"ImageId {image!r} is malformed")
        if image not in self._images:
            raise ApiError("InvalidImageId.NotFound", f"image {image} is not found")
        zone = params["Placement"]["Zone"]
        offer = self._offers.get((zone, str(params.get("InstanceType"))))
        if offer is None:
            raise ApiError(
                "InvalidParameterValue.InstanceTypeNotFound",
                f"instance type {params.get('InstanceType')} is not offered in {zone}",
            )
        price = self._item_price(offer)
        price["UnitPrice"] *= count
        price["UnitPriceDiscount"] *= count
        return {
            "Price": {
                "InstancePrice": price,
                "BandwidthPrice": {
                    "UnitPrice": 0.0,
                    "ChargeUnit": "HOUR",
                    "UnitPriceDiscount": 0.0,
                    "Discount": 100.0,
                },
            }
        }

    def _describe_account_quota(self, params: dict[str, Any]) -> dict[str, Any]:
        filters = self._filters(params, ("zone", "quota-type"))
        quota_types = filters.get("quota-type", ["PostPaidQuotaSet"])
        postpaid = [
            {
                "Zone": zone,
                "TotalQuota": total,
                "UsedQuota": self._used(zone),
                "RemainingQuota": max(0, total - self._used(zone)),
            }
            for zone, total in sorted(self._quota_total.items())
            if "zone" not in filters or zone in filters["zone"]
        ]
        return {
            "AppId": self._app_id,
            "AccountQuotaOverview": {
                "Region": self.region,
                "AccountQuota": {
                    "PostPaidQuotaSet": postpaid if "PostPaidQuotaSet" in quota_types else [],
                    "PrePaidQuotaSet": [],
                    "SpotPaidQuotaSet": [],
                    "ImageQuotaSet": [],
                    "DisasterRecoverGroupQuotaSet": [],
                },
            },
        }

    def _instance_item(self, instance: _Instance) -> dict[str, Any]:
        return {
            "Placement": {"Zone": instance.zone, "ProjectId": 0},
            "InstanceId": instance.id,
            "InstanceType": instance.instance_type,
            "CPU": 4,
            "Memory": 8,
            "RestrictState": "NORMAL",
            "InstanceName": instance.id,
            "InstanceChargeType": "POSTPAID_BY_HOUR",
            "PrivateIpAddresses": [instance.lan_ip],
            "PublicIpAddresses": None,
            "ImageId": "img-burstd01",
            "CreatedTime": _iso(instance.created_at),
            "ExpiredTime": None,
            "InstanceState": self._cvm_state(instance),
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(instance.tags.items())],
            "StopChargingMode": "NOT_APPLICABLE",
            "Uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, instance.id)),
        }

    def _check_ids(self, ids: Any, name: str = "InstanceIds") -> list[str]:
        if not isinstance(ids, list) or len(ids) > 100:
            raise ApiError("InvalidParameterValue", f"{name} must be a list of at most 100 ids")
        for instance_id in ids:
            if not isinstance(instance_id, str) or not _INSTANCE_ID.match(instance_id):
                raise ApiError("InvalidInstanceId.Malformed", f"instance id {instance_id!r} is malformed")
        return ids

    def _describe_instances(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("InstanceIds") and params.get("Filters"):
            raise ApiError("InvalidParameterCombination", "InstanceIds and Filters cannot be used together")
        offset, limit = self._page(params)
        filters = self._filters(
            params, ("zone", "instance-id", "instance-state", "instance-type", "tag-key", "tag:")
        )
        ids = self._check_ids(params["InstanceIds"]) if params.get("InstanceIds") else None
        matched = []
        for instance in self._instances.values():
            if instance.terminated or (ids is not None and instance.id not in ids):
                continue
            state = self._cvm_state(instance)
            checks = {
                "zone": instance.zone,
                "instance-id": instance.id,
                "instance-state": state,
                "instance-type": instance.instance_type,
            }
            ok = all(checks[name] in values for name, values in filters.items() if name in checks)
            if "tag-key" in filters:
                ok = ok and any(k in instance.tags for k in filters["tag-key"])
            for name, values in filters.items():
                if name.startswith("tag:"):
                    ok = ok and instance.tags.get(name[4:]) in values
            if ok:
                matched.append(instance)
        page = matched[offset : offset + limit]
        return {"TotalCount": len(matched), "InstanceSet": [self._instance_item(i) for i in page]}

    def _terminate_instances(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "InstanceIds")
        ids = self._check_ids(params["InstanceIds"])
        missing = [i for i in ids if i not in self._instances or self._instances[i].terminated]
        if missing:
            raise ApiError("InvalidInstanceId.NotFound", f"instances {', '.join(missing)} are not found")
        for instance_id in ids:
            self._terminate(self._instances[instance_id])
        return {}

    def _node_pool(self, params: Mapping[str, Any]) -> _NodePool:
        self._require(params, "ClusterId", "NodePoolId")
        if params["ClusterId"] not in self._clusters:
            raise ApiError("ResourceNotFound.ClusterNotFound", f"cluster {params['ClusterId']} is not found")
        node_pool = self._node_pools.get((params["ClusterId"], params["NodePoolId"]))
        if node_pool is None:
            raise ApiError("ResourceNotFound", f"node pool {params['NodePoolId']} is not found")
        self._reconcile(node_pool)
        return node_pool

    def _describe_cluster_node_pool_detail(self, params: dict[str, Any]) -> dict[str, Any]:
        node_pool = self._node_pool(params)
        now = self._clock()
        normal = sum(1 for m in node_pool.members if self._instances[m].ready_at <= now)
        return {
            "NodePool": {
                "NodePoolId": node_pool.node_pool_id,
                "Name": node_pool.node_pool_id,
                "ClusterInstanceId": node_pool.cluster_id,
                "LifeState": "normal",
                "LaunchConfigurationId": f"asc-{node_pool.node_pool_id[-8:]}",
                "AutoscalingGroupId": f"asg-{node_pool.node_pool_id[-8:]}",
                "Labels": [],
                "Taints": [],
                "NodeCountSummary": {
                    "ManuallyAdded": {"Joining": 0, "Initializing": 0, "Normal": 0, "Total": 0},
                    "AutoscalingAdded": {
                        "Joining": 0,
                        "Initializing": len(node_pool.members) - normal,
                        "Normal": normal,
                        "Total": len(node_pool.members),
                    },
                },
                "AutoscalingGroupStatus": "enabled" if node_pool.autoscaling else "disabled",
                "MaxNodesNum": node_pool.max_nodes,
                "MinNodesNum": node_pool.min_nodes,
                "DesiredNodesNum": node_pool.desired,
                "Tags": [{"Key": k, "Value": v} for k, v in sorted(node_pool.tags.items())],
            }
        }

    def _describe_cluster_instances(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "ClusterId")
        cluster_id = params["ClusterId"]
        if cluster_id not in self._clusters:
            raise ApiError("ResourceNotFound.ClusterNotFound", f"cluster {cluster_id} is not found")
        offset, limit = self._page(params)
        filters = self._filters(params, ("nodepool-id", "nodepool-instance-type"))
        role = params.get("InstanceRole", "WORKER")
        if role not in ("MASTER", "WORKER", "ETCD", "MASTER_ETCD", "ALL"):
            raise ApiError("InvalidParameter.Param", f"InstanceRole {role!r} is not valid")
        ids = params.get("InstanceIds")
        now = self._clock()
        items = []
        for node_pool in self._node_pools.values():
            if node_pool.cluster_id != cluster_id:
                continue
            if "nodepool-id" in filters and node_pool.node_pool_id not in filters["nodepool-id"]:
                continue
            self._reconcile(node_pool)
            for member_id in node_pool.members:
                if ids and member_id not in ids:
                    continue
                member = self._instances[member_id]
                state = "failed" if member.failed else "running" if member.ready_at <= now else "initializing"
                items.append(
                    {
                        "InstanceId": member.id,
                        "InstanceRole": "WORKER",
                        "FailedReason": "",
                        "InstanceState": state,
                        "DrainStatus": "",
                        "CreatedTime": _iso(member.created_at),
                        "LanIP": member.lan_ip,
                        "NodePoolId": node_pool.node_pool_id,
                        "AutoscalingGroupId": f"asg-{node_pool.node_pool_id[-8:]}",
                    }
                )
        return {"TotalCount": len(items), "InstanceSet": items[offset : offset + limit]}

    def _modify_desired_capacity(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "DesiredCapacity")
        node_pool = self._node_pool(params)
        desired = params["DesiredCapacity"]
        if not isinstance(desired, int) or not node_pool.min_nodes <= desired <= node_pool.max_nodes:
            raise ApiError(
                "InvalidParameter.Param",
                f"DesiredCapacity {desired!r} is outside [{node_pool.min_nodes}, {node_pool.max_nodes}]",
            )
        node_pool.desired = desired
        self._reconcile(node_pool)
        return {}

    def _delete_cluster_instances(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "ClusterId", "InstanceIds")
        cluster_id = params["ClusterId"]
        if cluster_id not in self._clusters:
            raise ApiError("ResourceNotFound.ClusterNotFound", f"cluster {cluster_id} is not found")
        mode = params.get("InstanceDeleteMode", "retain")
        if mode not in ("terminate", "retain"):
            raise ApiError("InvalidParameter.Param", f"InstanceDeleteMode {mode!r} is not valid")
        done, not_found = [], []
        for instance_id in self._check_ids(params["InstanceIds"]):
            instance = self._instances.get(instance_id)
            if (
                instance is None
                or instance.terminated
                or instance.node_pool is None
                or instance.node_pool[0] != cluster_id
            ):
                not_found.append(instance_id)
                continue
            node_pool = self._node_pools[instance.node_pool]
            node_pool.desired = max(
                0, node_pool.desired - 1
            )  # removing a member lowers the ASG's desired count
            node_pool.members.remove(instance_id)
            instance.node_pool = None
            if mode == "terminate":
                instance.terminated = True
            done.append(instance_id)
        return {"SuccInstanceIds": done, "FailedInstanceIds": [], "NotFoundInstanceIds": not_found}

    def _assume_role_with_web_identity(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "ProviderId", "WebIdentityToken", "RoleArn", "RoleSessionName")
        duration = params.get("DurationSeconds", 7200)
        if not isinstance(duration, int) or not 900 <= duration <= 43200:
            raise ApiError(
                "InvalidParameter.DurationSecondsError", f"DurationSeconds {duration!r} is not valid"
            )
        for role in self._roles:
            if (role.role_arn, role.provider_id) == (params["RoleArn"], params["ProviderId"]):
                if params["WebIdentityToken"].strip() != role.web_identity_token:
                    raise ApiError(
                        "InvalidParameter.WebIdentityTokenError", "the web identity token is not valid"
                    )
                break
        else:
            raise ApiError("ResourceNotFound.RoleNotExist", "the role or identity provider does not exist")
        n = next(self._ids)
        secret_id = f"AKIDtmp{uuid.uuid4().hex}"
        secret_key = f"tmpkey{uuid.uuid4().hex}"
        token = f"tmptoken{n}{uuid.uuid4().hex}"
        expires = self._signature_clock() + duration
        self._keys[secret_id] = (secret_key, token, expires)
        return {
            "Credentials": {"Token": token, "TmpSecretId": secret_id, "TmpSecretKey": secret_key},
            "ExpiredTime": int(expires),
            "Expiration": _iso(expires),
        }
