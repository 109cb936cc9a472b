"""A strict fake Alibaba Cloud (ECS 2014-05-26 RPC and Container Service 2015-12-15 ROA) for the real SDKs.

An aiohttp server on 127.0.0.1 runs in a background thread with its own event loop, so the same fake
serves pytest tests (whatever their own loops) and a burstd daemon subprocess pointed at ``endpoint``.

It is strict like the real API: every request must carry a valid ACS3-HMAC-SHA256 signature (canonical
request recomputed from method, path, sorted query, the signed headers and ``x-acs-content-sha256``) made
with a known AccessKey (and its STS token, if it has one), a fresh nonce and a current ``x-acs-date``;
``x-acs-action`` and ``x-acs-version`` must name an action of the product the path belongs to; required
parameters are checked. Replies have the documented shapes: ECS ``{"RequestId", ...}`` and errors
``{"RequestId", "HostId", "Code", "Message", "Recommend"}``; CS snake_case bodies and errors
``{"code", "message", "requestId", "data"}``; ``x-acs-retry-after`` (milliseconds) on throttling when
scripted.

The scripting API (thread-safe) sets stock, prices, vCPU quota, instances with tags, ACK node pools
whose desired size launches members (``initial`` -> ``running`` after ``launch_delay`` on the injectable
``clock``), injected errors and stalls, and reads the request log.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

__all__ = [
    "CS_VERSION",
    "ECS_VERSION",
    "FakeAlibabaCloud",
    "Injected",
    "LoggedRequest",
    "ManualClock",
    "running",
]

ECS_VERSION = "2014-05-26"
CS_VERSION = "2015-12-15"
SIGN_ALGORITHM = "ACS3-HMAC-SHA256"
#: how far ``x-acs-date`` may be from the fake's wall clock, as the real gateway allows
MAX_CLOCK_SKEW = 15 * 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_STALL = 60.0

ECS_ACTIONS = frozenset(
    {
        "DescribeAvailableResource",
        "DescribePrice",
        "DescribeInstanceTypes",
        "DescribeAccountAttributes",
        "DescribeInstances",
        "DeleteInstances",
    }
)
IN_STOCK = ("WithStock", "ClosedWithStock")
STOCK_CATEGORIES = ("WithStock", "ClosedWithStock", "WithoutStock", "ClosedWithoutStock", "SoldOut")
POOL_TAG = "burstd.io/pool"


class ManualClock:
    """An injectable clock for launch delays: ``advance(seconds)`` moves it."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request the fake received (signature failures included)."""

    action: str
    method: str
    path: str
    query: Mapping[str, str]
    body: str
    access_key_id: str | None
    status: int
    #: when it arrived (``time.monotonic()``), to see how a client spaced its retries
    at: float = 0.0


@dataclass(slots=True)
class Injected:
    """A scripted failure for the next ``times`` requests of ``action``."""

    action: str
    code: str
    status: int
    times: int
    message: str = "injected by the test"
    retry_after_ms: int | None = None
    #: stall this long (seconds) without answering instead of replying with an error
    stall: float | None = None


@dataclass(slots=True)
class _Instance:
    id: str
    instance_type: str
    zone: str
    status: str  # Pending, Running, Starting, Stopping, Stopped
    created_at: float
    tags: dict[str, str]
    released: bool = False
    #: (cluster_id, node_pool_id) of the ACK node pool it belongs to
    member_of: tuple[str, str] | None = None


@dataclass(slots=True)
class _Member:
    instance_id: str
    node_name: str
    launched_at: float
    #: None: follows the launch delay; else a fixed ACK state ("running", "initial", "failed")
    fixed_state: str | None = None


@dataclass(slots=True)
class _NodePool:
    cluster_id: str
    id: str
    name: str
    desired: int
    autoscaling: bool
    instance_type: str
    zone: str
    tags: dict[str, str]
    members: list[_Member] = field(default_factory=list)


_Handler = Callable[[web.Request, bytes], tuple[int, dict[str, Any]]]


class _Reply(Exception):
    """Answer the request with this status and body (raised anywhere inside a handler)."""

    def __init__(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = dict(body)
        self.headers = dict(headers or {})


class FakeAlibabaCloud:
    """The fake cloud. Use as a context manager (or ``start()``/``stop()``)."""

    def __init__(
        self,
        *,
        region_id: str = "cn-hangzhou",
        credentials: Mapping[str, str] | None = None,
        clock: Callable[[], float] | None = None,
        wall: Callable[[], float] = time.time,
        launch_delay: float = 0.0,
        ssl_context: ssl.SSLContext | None = None,
        sts_lifetime: float = 3600.0,
    ) -> None:
        self.region_id = region_id
        self._ssl = ssl_context
        #: lifetime of the STS credentials AssumeRoleWithOIDC hands out (seconds on the wall clock)
        self.sts_lifetime = sts_lifetime
        self._oidc_roles: dict[tuple[str, str], str] = {}
        self._keys: dict[str, tuple[str, str | None]] = {k: (v, None) for k, v in (credentials or {}).items()}
        self._clock = clock or ManualClock()
        self._wall = wall
        self.launch_delay = launch_delay
        self._lock = threading.Lock()
        self._vcpus: dict[str, int] = {}
        self._stock: dict[tuple[str, str], str] = {}
        self._prices: dict[tuple[str, str], tuple[float, str]] = {}
        self._max_vcpus = 10_000
        self._used_vcpus_extra = 0
        self._instances: dict[str, _Instance] = {}
        self._clusters: set[str] = set()
        self._pools: dict[tuple[str, str], _NodePool] = {}
        self._injected: list[Injected] = []
        self._counts: Counter[str] = Counter()
        self._log: list[LoggedRequest] = []
        self._nonces: set[str] = set()
        self._ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._port = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeAlibabaCloud:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start_server())
            except BaseException as error:  # surfaced in start()
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop_server())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-alibabacloud", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise RuntimeError("fake Alibaba Cloud failed to start") from failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeAlibabaCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start_server(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = int(sockets[0].getsockname()[1])

    async def _stop_server(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def endpoint(self) -> str:
        """``host:port`` for ``Config(endpoint=..., protocol="http")`` (ECS and CS alike)."""
        return f"127.0.0.1:{self._port}"

    # ------------------------------------------------------------------ scripting: credentials, catalogue

    def add_credentials(self, access_key_id: str, secret: str, security_token: str | None = None) -> None:
        with self._lock:
            self._keys[access_key_id] = (secret, security_token)

    def add_oidc_role(self, role_arn: str, oidc_provider_arn: str, oidc_token: str) -> None:
        """STS AssumeRoleWithOIDC (ACK RRSA) trusts ``oidc_token`` for this role and OIDC provider; each
        call issues fresh STS credentials (AccessKeyId ``STS.*``, secret, SecurityToken)."""
        with self._lock:
            self._oidc_roles[(role_arn, oidc_provider_arn)] = oidc_token

    def issued_sts_secrets(self) -> list[str]:
        """Every secret part of the STS credentials handed out (for secret-leak checks)."""
        with self._lock:
            return [
                part
                for key, (secret, token) in self._keys.items()
                if key.startswith("STS.")
                for part in (key, secret, token or "")
                if part
            ]

    def add_instance_type(self, instance_type: str, vcpus: int) -> None:
        with self._lock:
            self._vcpus[instance_type] = vcpus

    def set_stock(self, zone: str, instance_type: str, category: str = "WithStock") -> None:
        if category not in STOCK_CATEGORIES:
            raise ValueError(f"unknown StatusCategory {category!r}; one of {STOCK_CATEGORIES}")
        with self._lock:
            self._stock[(zone, instance_type)] = category

    def set_price(self, zone: str, instance_type: str, per_hour: float, currency: str = "CNY") -> None:
        with self._lock:
            self._prices[(zone, instance_type)] = (per_hour, currency)

    def set_vcpu_quota(self, max_vcpus: int, *, used_elsewhere: int = 0) -> None:
        """The account's pay-as-you-go vCPU quota; used = ``used_elsewhere`` + vCPUs of live instances."""
        with self._lock:
            self._max_vcpus = max_vcpus
            self._used_vcpus_extra = used_elsewhere

    def set_headroom(self, instance_type: str, nodes: int) -> None:
        """Set the quota so that exactly ``nodes`` more instances of ``instance_type`` fit."""
        with self._lock:
            self._max_vcpus = self._used_vcpus() + nodes * self._vcpus[instance_type]

    def used_vcpus(self) -> int:
        with self._lock:
            return self._used_vcpus()

    def _used_vcpus(self) -> int:
        return self._used_vcpus_extra + sum(
            self._vcpus.get(i.instance_type, 0) for i in self._instances.values() if not i.released
        )

    # ------------------------------------------------------------------ scripting: instances

    def add_instance(
        self,
        instance_type: str,
        zone: str,
        *,
        status: str = "Running",
        created_at: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        with self._lock:
            return self._new_instance(instance_type, zone, status, created_at, dict(tags or {}))

    def _new_instance(
        self,
        instance_type: str,
        zone: str,
        status: str,
        created_at: float | None,
        tags: dict[str, str],
        member_of: tuple[str, str] | None = None,
    ) -> str:
        instance_id = f"i-fake{next(self._ids):08d}"
        self._instances[instance_id] = _Instance(
            id=instance_id,
            instance_type=instance_type,
            zone=zone,
            status=status,
            created_at=self._wall() if created_at is None else created_at,
            tags=tags,
            member_of=member_of,
        )
        return instance_id

    def release_instance(self, instance_id: str) -> None:
        with self._lock:
            self._instances[instance_id].released = True

    def leak_instance(self, pool: str, instance_type: str, zone: str) -> str:
        """A running instance tagged for ``pool`` that no Machine or node-pool member stands behind."""
        return self.add_instance(instance_type, zone, tags={POOL_TAG: pool})

    def instances_of(self, pool: str) -> list[str]:
        """Ids of live instances tagged ``burstd.io/pool=pool``."""
        with self._lock:
            return [i.id for i in self._instances.values() if not i.released and i.tags.get(POOL_TAG) == pool]

    def instance_status(self, instance_id: str) -> str | None:
        """The ECS Status of an instance, None once released."""
        with self._lock:
            instance = self._instances.get(instance_id)
            return None if instance is None or instance.released else self._status_of(instance)

    # ------------------------------------------------------------------ scripting: ACK node pools

    def add_node_pool(
        self,
        cluster_id: str,
        node_pool_id: str,
        *,
        instance_type: str,
        zone: str,
        members: Sequence[str] = (),
        autoscaling: bool = False,
        tags: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> list[str]:
        """A node pool with one member per entry of ``members`` (a fixed ACK state: "running", "initial",
        "failed"; "launching" follows the launch delay). Desired = len(members). The members' ids."""
        with self._lock:
            self._clusters.add(cluster_id)
            node_pool = _NodePool(
                cluster_id=cluster_id,
                id=node_pool_id,
                name=name or node_pool_id,
                desired=len(members),
                autoscaling=autoscaling,
                instance_type=instance_type,
                zone=zone,
                tags=dict(tags or {}),
            )
            self._pools[(cluster_id, node_pool_id)] = node_pool
            return [self._launch(node_pool, None if state == "launching" else state) for state in members]

    def add_cluster(self, cluster_id: str) -> None:
        with self._lock:
            self._clusters.add(cluster_id)

    def _launch(self, node_pool: _NodePool, fixed_state: str | None) -> str:
        instance_id = self._new_instance(
            node_pool.instance_type,
            node_pool.zone,
            "Pending",
            None,
            dict(node_pool.tags),
            member_of=(node_pool.cluster_id, node_pool.id),
        )
        node_pool.members.append(
            _Member(
                instance_id=instance_id,
                node_name=f"{self.region_id}.10.0.{len(node_pool.members) // 250}.{len(node_pool.members) % 250 + 2}"
                f"-{instance_id[-4:]}",
                launched_at=self._clock(),
                fixed_state=fixed_state,
            )
        )
        return instance_id

    def _member_state(self, member: _Member) -> str:
        if member.fixed_state is not None:
            return member.fixed_state
        return "running" if self._clock() >= member.launched_at + self.launch_delay else "initial"

    def _status_of(self, instance: _Instance) -> str:
        if instance.member_of is None:
            return instance.status
        node_pool = self._pools.get(instance.member_of)
        member = (
            next((m for m in node_pool.members if m.instance_id == instance.id), None) if node_pool else None
        )
        if member is None:
            return instance.status
        state = self._member_state(member)
        return "Running" if state == "running" else "Pending"

    def _pool(self, cluster_id: str, node_pool_id: str) -> _NodePool:
        return self._pools[(cluster_id, node_pool_id)]

    def node_pool_desired(self, cluster_id: str, node_pool_id: str) -> int:
        with self._lock:
            return self._pool(cluster_id, node_pool_id).desired

    def node_pool_members(self, cluster_id: str, node_pool_id: str) -> list[str]:
        with self._lock:
            return [m.instance_id for m in self._pool(cluster_id, node_pool_id).members]

    def ready_members(self, cluster_id: str, node_pool_id: str) -> list[str]:
        """Members whose ACK state is ``running`` now (launch delay passed on the clock)."""
        with self._lock:
            node_pool = self._pool(cluster_id, node_pool_id)
            return [m.instance_id for m in node_pool.members if self._member_state(m) == "running"]

    def set_member_state(self, instance_id: str, state: str | None) -> None:
        """Pin a member's ACK state ("running", "initial", "failed"), or None to follow the delay."""
        with self._lock:
            for node_pool in self._pools.values():
                for member in node_pool.members:
                    if member.instance_id == instance_id:
                        member.fixed_state = state
                        return
        raise KeyError(instance_id)

    # ------------------------------------------------------------------ scripting: failures, log

    def fail(
        self,
        action: str,
        code: str,
        *,
        status: int = 400,
        times: int = 1,
        message: str = "injected by the test",
        retry_after_ms: int | None = None,
    ) -> None:
        """The next ``times`` requests of ``action`` (after authentication) answer ``status`` + ``code``."""
        with self._lock:
            self._injected.append(Injected(action, code, status, times, message, retry_after_ms))

    def stall(self, action: str, seconds: float = MAX_STALL, *, times: int = 1) -> None:
        """The next ``times`` requests of ``action`` get no answer for ``seconds`` (a hung endpoint; a
        client still waiting then gets the normal answer)."""
        with self._lock:
            self._injected.append(Injected(action, "Stall", 0, times, stall=min(seconds, MAX_STALL)))

    def clear_failures(self) -> None:
        with self._lock:
            self._injected.clear()

    def requests(self, action: str | None = None) -> int:
        """How many requests of ``action`` (all, if None) arrived; failed ones included."""
        with self._lock:
            return sum(self._counts.values()) if action is None else self._counts[action]

    def request_log(self, action: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self._log if action is None or r.action == action]

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if "x-acs-action" not in request.headers and "Action" in request.query:
            return self._sts(request)
        action = request.headers.get("x-acs-action", "")
        product = "ecs" if request.path == "/" else "cs"
        with self._lock:
            self._counts[action] += 1
            request_id = f"FAKE-{next(self._request_ids):06d}"
        access_key: str | None = None
        status = 200
        try:
            access_key = self._authenticate(request, body, product)
            route = self._route(request, product, action)
            stall = self._take_injected(action, product)
            if stall is not None:
                assert self._stopping is not None
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), stall)
                if self._stopping.is_set():
                    raise _Reply(503, {"Code": "ServiceUnavailable", "Message": "the fake is stopping"})
                # a slow answer: the request is served after the stall (if the client still waits)
            with self._lock:
                status, reply = route(request, body)
            reply = (
                {"RequestId": request_id, **reply}
                if product == "ecs"
                else {"request_id": request_id, **reply}
            )
            return web.json_response(reply, status=status)
        except _Reply as answer:
            status = answer.status
            return web.json_response(
                self._error_body(product, request_id, answer.body), status=status, headers=answer.headers
            )
        finally:
            with self._lock:
                self._log.append(
                    LoggedRequest(
                        action=action,
                        method=request.method,
                        path=request.path,
                        query=dict(request.query),
                        body=body.decode("utf-8", "replace"),
                        access_key_id=access_key,
                        status=status,
                        at=time.monotonic(),
                    )
                )

    def _sts(self, request: web.Request) -> web.StreamResponse:
        """STS 2015-04-01 AssumeRoleWithOIDC (anonymous RPC: the OIDC token is the proof)."""
        q = request.query
        action = q["Action"]
        with self._lock:
            self._counts[action] += 1
            request_id = f"FAKE-STS-{next(self._request_ids):06d}"

        def error(status: int, code: str, message: str) -> web.StreamResponse:
            body = {"RequestId": request_id, "HostId": "sts.aliyuncs.com", "Code": code, "Message": message}
            return web.json_response(body, status=status)

        if action != "AssumeRoleWithOIDC":
            return error(404, "InvalidAction.NotFound", f"no STS action {action!r}")
        if q.get("Version") != "2015-04-01":
            return error(400, "InvalidVersion", "STS has version 2015-04-01")
        for name in ("RoleArn", "OIDCProviderArn", "OIDCToken", "RoleSessionName", "Timestamp"):
            if not q.get(name):
                return error(400, f"MissingParameter.{name}", f"{name} is mandatory")
        duration = int(q.get("DurationSeconds", "3600"))
        if not 900 <= duration <= 43200:
            return error(400, "InvalidParameter.DurationSeconds", "900..43200")
        with self._lock:
            trusted = self._oidc_roles.get((q["RoleArn"], q["OIDCProviderArn"]))
            if trusted is None:
                return error(404, "EntityNotExist.Role", "The role or OIDC provider does not exist.")
            if q["OIDCToken"] != trusted:
                return error(400, "AuthenticationFail.OIDCToken.Invalid", "The OIDC token is invalid.")
            n = next(self._ids)
            key_id, secret, token = f"STS.fakeKey{n:06d}", f"fakeStsSecret{n:06d}x", f"fakeStsToken{n:06d}y"
            self._keys[key_id] = (secret, token)
            expires = datetime.fromtimestamp(self._wall() + self.sts_lifetime, UTC)
        return web.json_response(
            {
                "RequestId": request_id,
                "AssumedRoleUser": {"Arn": f"{q['RoleArn']}/{q['RoleSessionName']}", "AssumedRoleId": "3"},
                "OIDCTokenInfo": {
                    "Issuer": "https://oidc-ack.fake",
                    "Subject": "system:serviceaccount:burstd",
                },
                "Credentials": {
                    "AccessKeyId": key_id,
                    "AccessKeySecret": secret,
                    "SecurityToken": token,
                    "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            }
        )

    def _error_body(self, product: str, request_id: str, error: Mapping[str, Any]) -> dict[str, Any]:
        code, message = error.get("Code", "UnknownError"), error.get("Message", "")
        if product == "ecs":
            return {
                "RequestId": request_id,
                "HostId": f"ecs.{self.region_id}.aliyuncs.com",
                "Code": code,
                "Message": message,
                "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}",
            }
        return {"code": code, "message": message, "requestId": request_id, "data": {}}

    def _take_injected(self, action: str, product: str) -> float | None:
        with self._lock:
            rule = next((r for r in self._injected if r.action == action and r.times > 0), None)
            if rule is None:
                return None
            rule.times -= 1
            if rule.times == 0:
                self._injected.remove(rule)
        if rule.stall is not None:
            return rule.stall
        headers = {"x-acs-retry-after": str(rule.retry_after_ms)} if rule.retry_after_ms else {}
        raise _Reply(rule.status, {"Code": rule.code, "Message": rule.message}, headers)

    # ------------------------------------------------------------------ ACS3-HMAC-SHA256

    def _authenticate(self, request: web.Request, body: bytes, product: str) -> str:
        def deny(status: int, code: str, message: str) -> _Reply:
            return _Reply(status, {"Code": code, "Message": message})

        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith(SIGN_ALGORITHM + " "):
            raise deny(400, "IncompleteSignature", f"the request must be signed with {SIGN_ALGORITHM}")
        fields: dict[str, str] = {}
        for part in authorization[len(SIGN_ALGORITHM) + 1 :].split(","):
            key, _, value = part.strip().partition("=")
            fields[key] = value
        access_key_id = fields.get("Credential", "")
        signed = fields.get("SignedHeaders", "")
        signature = fields.get("Signature", "")
        if not access_key_id or not signed or not signature:
            raise deny(
                400, "IncompleteSignature", "Authorization lacks Credential, SignedHeaders or Signature"
            )
        with self._lock:
            known = self._keys.get(access_key_id)
        if known is None:
            raise deny(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        secret, token = known
        signed_names = signed.split(";")
        if signed_names != sorted(signed_names):
            raise deny(400, "IncompleteSignature", "SignedHeaders must be sorted")
        required = {
            "host",
            "x-acs-action",
            "x-acs-version",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-content-sha256",
        }
        present_acs = {name.lower() for name in request.headers if name.lower().startswith("x-acs-")}
        missing = sorted((required | present_acs) - set(signed_names))
        if missing:
            raise deny(400, "IncompleteSignature", f"headers not signed: {', '.join(missing)}")
        for name in required:
            if not request.headers.get(name):
                raise deny(400, "MissingParameter", f"header {name} is required")
        if request.headers["x-acs-content-sha256"] != hashlib.sha256(body).hexdigest():
            raise deny(400, "IncompleteSignature", "x-acs-content-sha256 does not match the body")
        try:
            sent_at = datetime.strptime(request.headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=UTC
            )
        except ValueError:
            raise deny(400, "InvalidTimeStamp.Format", "x-acs-date must be yyyy-MM-ddTHH:mm:ssZ") from None
        if abs(sent_at.timestamp() - self._wall()) > MAX_CLOCK_SKEW:
            raise deny(400, "InvalidTimeStamp.Expired", "x-acs-date is too far from the server's time")
        canonical_headers = "".join(
            f"{name}:{','.join(sorted(v.strip() for v in request.headers.getall(name, [])))}\n"
            for name in signed_names
        )
        query = "&".join(f"{key}={quote(value, safe='~')}" for key, value in sorted(request.query.items()))
        canonical = "\n".join(
            [
                request.method,
                request.raw_path.split("?", 1)[0] or "/",
                query,
                canonical_headers,
                signed,
                request.headers["x-acs-content-sha256"],
            ]
        )
        to_sign = f"{SIGN_ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise deny(
                400,
                "SignatureDoesNotMatch",
                "Specified signature does not match our calculation.",
            )
        if token is not None:
            if request.headers.get("x-acs-security-token") != token:
                raise deny(400, "InvalidSecurityToken.Malformed", "Specified SecurityToken is malformed.")
        elif request.headers.get("x-acs-security-token"):
            raise deny(400, "InvalidSecurityToken.MismatchWithAccessKey", "the AccessKey has no token")
        nonce = request.headers["x-acs-signature-nonce"]
        with self._lock:
            if nonce in self._nonces:
                raise deny(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
            self._nonces.add(nonce)
        return access_key_id

    # ------------------------------------------------------------------ routing

    def _route(self, request: web.Request, product: str, action: str) -> _Handler:
        version = request.headers.get("x-acs-version", "")
        if product == "ecs":
            if version != ECS_VERSION:
                raise _Reply(
                    400, {"Code": "InvalidVersion", "Message": f"ECS has no API version {version!r}"}
                )
            if request.method not in {"POST", "GET"}:
                raise _Reply(400, {"Code": "UnsupportedHTTPMethod", "Message": request.method})
            if action not in ECS_ACTIONS:
                raise _Reply(404, {"Code": "InvalidAction.NotFound", "Message": f"no action {action!r}"})
            if request.query.get("RegionId") is None and action != "DescribeInstanceTypes":
                raise _Reply(400, {"Code": "MissingParameter", "Message": "RegionId is mandatory"})
            region = request.query.get("RegionId")
            if region is not None and region != self.region_id:
                raise _Reply(404, {"Code": "InvalidRegionId.NotFound", "Message": f"no region {region!r}"})
            handler: _Handler = getattr(self, f"_ecs_{action}")
            return handler
        if version != CS_VERSION:
            raise _Reply(400, {"Code": "InvalidVersion", "Message": f"CS has no API version {version!r}"})
        parts = request.path.strip("/").split("/")
        routes: dict[tuple[str, int, str | None], str] = {
            ("GET", 3, None): "DescribeClusterNodePools",
            ("GET", 4, None): "DescribeClusterNodePoolDetail",
            ("POST", 4, None): "ScaleClusterNodePool",
            ("DELETE", 5, "nodes"): "RemoveNodePoolNodes",
            ("GET", 3, "nodes"): "DescribeClusterNodes",
        }
        if parts[0] != "clusters" or len(parts) < 3:
            raise _Reply(404, {"Code": "InvalidAction.NotFound", "Message": f"no route {request.path}"})
        key = (request.method, len(parts), parts[-1] if parts[-1] == "nodes" else None)
        if len(parts) >= 3 and parts[2] not in ("nodepools", "nodes"):
            raise _Reply(404, {"Code": "InvalidAction.NotFound", "Message": f"no route {request.path}"})
        expected = routes.get(key)
        if key == ("GET", 3, None) and parts[2] != "nodepools":
            expected = None
        if expected is None or expected != action:
            raise _Reply(
                404,
                {
                    "Code": "InvalidAction.NotFound",
                    "Message": f"{request.method} {request.path} is not {action!r}",
                },
            )
        return getattr(self, f"_cs_{action}")  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ ECS

    @staticmethod
    def _need(query: Mapping[str, str], name: str) -> str:
        value = query.get(name)
        if value is None or value == "":
            raise _Reply(400, {"Code": "MissingParameter", "Message": f"{name} is mandatory for this action"})
        return value

    @staticmethod
    def _listed(query: Mapping[str, str], prefix: str) -> list[str]:
        """``Prefix.1``, ``Prefix.2``... (RPC repeat lists), checked to be contiguous."""
        found = {
            k: v for k, v in query.items() if k.startswith(prefix + ".") and k[len(prefix) + 1 :].isdigit()
        }
        values = []
        for n in range(1, len(found) + 1):
            if f"{prefix}.{n}" not in found:
                raise _Reply(400, {"Code": "InvalidParameter", "Message": f"{prefix} list is not contiguous"})
            values.append(found[f"{prefix}.{n}"])
        return values

    def _ecs_DescribeAvailableResource(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        q = request.query
        destination = self._need(q, "DestinationResource")
        if destination not in (
            "Zone",
            "IoOptimized",
            "InstanceType",
            "SystemDisk",
            "DataDisk",
            "Network",
            "ddh",
        ):
            raise _Reply(
                400, {"Code": "InvalidDestinationResource.ValueNotSupported", "Message": destination}
            )
        charge = q.get("InstanceChargeType", "PostPaid")
        if charge not in ("PrePaid", "PostPaid"):
            raise _Reply(400, {"Code": "InvalidInstanceChargeType.ValueNotSupported", "Message": charge})
        zones: dict[str, list[dict[str, Any]]] = {}
        for (zone, instance_type), category in sorted(self._stock.items()):
            if q.get("ZoneId") not in (None, zone) or q.get("InstanceType") not in (None, instance_type):
                continue
            zones.setdefault(zone, []).append(
                {
                    "Value": instance_type,
                    "Status": "Available" if category in IN_STOCK else "SoldOut",
                    "StatusCategory": category,
                }
            )
        available = [
            {
                "ZoneId": zone,
                "RegionId": self.region_id,
                "Status": "Available",
                "StatusCategory": "WithStock",
                "AvailableResources": {
                    "AvailableResource": [
                        {"Type": destination, "SupportedResources": {"SupportedResource": supported}}
                    ]
                },
            }
            for zone, supported in zones.items()
        ]
        return 200, {"AvailableZones": {"AvailableZone": available}}

    def _ecs_DescribePrice(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        q = request.query
        resource = q.get("ResourceType", "instance")
        if resource != "instance":
            raise _Reply(400, {"Code": "InvalidResourceType.ValueNotSupported", "Message": resource})
        instance_type = self._need(q, "InstanceType")
        unit = q.get("PriceUnit", "Hour")
        if unit not in ("Hour", "Week", "Month", "Year"):
            raise _Reply(400, {"Code": "InvalidPriceUnit.ValueNotSupported", "Message": unit})
        amount = int(q.get("Amount", "1"))
        zone = q.get("ZoneId")
        prices = [p for (z, t), p in sorted(self._prices.items()) if t == instance_type and zone in (None, z)]
        if instance_type not in self._vcpus:
            raise _Reply(
                400,
                {
                    "Code": "InvalidInstanceType.ValueNotSupported",
                    "Message": f"The specified InstanceType {instance_type} is not supported.",
                },
            )
        if not prices:
            raise _Reply(400, {"Code": "PriceNotFound", "Message": f"no price for {instance_type} in {zone}"})
        per_hour, currency = prices[0]
        hours = {"Hour": 1, "Week": 24 * 7, "Month": 24 * 30, "Year": 24 * 365}[unit]
        trade = round(per_hour * hours * amount, 4)
        return 200, {
            "PriceInfo": {
                "Price": {
                    "OriginalPrice": trade,
                    "DiscountPrice": 0.0,
                    "TradePrice": trade,
                    "Currency": currency,
                },
                "Rules": {"Rule": []},
            }
        }

    def _ecs_DescribeInstanceTypes(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        wanted = self._listed(request.query, "InstanceTypes")
        items = [
            {
                "InstanceTypeId": t,
                "CpuCoreCount": v,
                "MemorySize": float(v * 4),
                "InstanceTypeFamily": t.rsplit(".", 1)[0],
            }
            for t, v in sorted(self._vcpus.items())
            if not wanted or t in wanted
        ]
        return 200, {"InstanceTypes": {"InstanceType": items}, "NextToken": ""}

    def _ecs_DescribeAccountAttributes(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        names = self._listed(request.query, "AttributeName")
        values = {
            "max-postpaid-instance-vcpu-count": self._max_vcpus,
            "used-postpaid-instance-vcpu-count": self._used_vcpus(),
            "max-spot-instance-vcpu-count": 0,
            "used-spot-instance-vcpu-count": 0,
        }
        unknown = [n for n in names if n not in values]
        if unknown:
            raise _Reply(
                400, {"Code": "InvalidAttributeName.ValueNotSupported", "Message": ", ".join(unknown)}
            )
        items = [
            {
                "AttributeName": name,
                "AttributeValues": {"ValueItem": [{"Value": str(values[name]), "Count": 1}]},
            }
            for name in (names or list(values))
        ]
        return 200, {"AccountAttributeItems": {"AccountAttributeItem": items}}

    def _ecs_DescribeInstances(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        q = request.query
        tags: list[tuple[str, str | None]] = []
        for n in range(1, 21):
            key = q.get(f"Tag.{n}.Key")
            if key is None:
                if q.get(f"Tag.{n}.Value") is not None:
                    raise _Reply(
                        400, {"Code": "InvalidTagKey.Malformed", "Message": f"Tag.{n}.Key is missing"}
                    )
                continue
            tags.append((key, q.get(f"Tag.{n}.Value")))
        ids: list[str] | None = None
        if "InstanceIds" in q:
            try:
                ids = json.loads(q["InstanceIds"])
            except ValueError:
                raise _Reply(
                    400, {"Code": "InvalidInstanceIds.Malformed", "Message": "InstanceIds"}
                ) from None
            if not isinstance(ids, list) or len(ids) > 100 or not all(isinstance(i, str) for i in ids):
                raise _Reply(
                    400, {"Code": "InvalidInstanceIds.Malformed", "Message": "a JSON list of <= 100 ids"}
                )
        if "MaxResults" in q and "PageNumber" in q:
            raise _Reply(
                400, {"Code": "InvalidParameter", "Message": "use NextToken/MaxResults or PageNumber"}
            )
        matched = [
            i
            for i in self._instances.values()
            if not i.released
            and (ids is None or i.id in ids)
            and all(i.tags.get(k) == v if v is not None else k in i.tags for k, v in tags)
            and q.get("Status") in (None, self._status_of(i))
        ]
        if "PageNumber" in q or "PageSize" in q:
            size, number = int(q.get("PageSize", "10")), int(q.get("PageNumber", "1"))
            if not 1 <= size <= 100 or number < 1:
                raise _Reply(400, {"Code": "InvalidParameter", "Message": "PageSize 1..100, PageNumber >= 1"})
            page = matched[(number - 1) * size : number * size]
            extra: dict[str, Any] = {"PageNumber": number, "PageSize": size}
        else:
            size = int(q.get("MaxResults", "10"))
            if not 1 <= size <= 100:
                raise _Reply(400, {"Code": "InvalidParameter.MaxResults", "Message": "MaxResults 1..100"})
            token = q.get("NextToken") or ""
            if token and not token.startswith("nt-"):
                raise _Reply(400, {"Code": "InvalidParameter.NextToken", "Message": "bad NextToken"})
            start = int(token[3:]) if token else 0
            page = matched[start : start + size]
            following = start + size
            extra = {"NextToken": f"nt-{following}" if following < len(matched) else "", "PageSize": size}
        items = [
            {
                "InstanceId": i.id,
                "InstanceName": i.id,
                "Status": self._status_of(i),
                "InstanceType": i.instance_type,
                "ZoneId": i.zone,
                "RegionId": self.region_id,
                "InstanceChargeType": "PostPaid",
                "CreationTime": datetime.fromtimestamp(i.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in i.tags.items()]},
            }
            for i in page
        ]
        return 200, {"TotalCount": len(matched), **extra, "Instances": {"Instance": items}}

    def _ecs_DeleteInstances(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        ids = self._listed(request.query, "InstanceId")
        if not ids:
            raise _Reply(400, {"Code": "MissingParameter", "Message": "InstanceId.N is mandatory"})
        if len(ids) > 100:
            raise _Reply(400, {"Code": "InvalidInstanceIds.Malformed", "Message": "at most 100 ids"})
        force = request.query.get("Force", "false").lower() == "true"
        targets = []
        for instance_id in ids:
            instance = self._instances.get(instance_id)
            if instance is None or instance.released:
                raise _Reply(
                    404,
                    {
                        "Code": "InvalidInstanceId.NotFound",
                        "Message": f"The specified InstanceId {instance_id} does not exist.",
                    },
                )
            if self._status_of(instance) not in ("Stopped",) and not force:
                raise _Reply(
                    403,
                    {
                        "Code": "IncorrectInstanceStatus",
                        "Message": "The current status of the resource does not support this operation.",
                    },
                )
            targets.append(instance)
        for instance in targets:
            instance.released = True
            if instance.member_of is not None and instance.member_of in self._pools:
                node_pool = self._pools[instance.member_of]
                node_pool.members = [m for m in node_pool.members if m.instance_id != instance.id]
        return 200, {}

    # ------------------------------------------------------------------ CS (ACK)

    def _cs_pool(self, request: web.Request) -> _NodePool:
        parts = request.path.strip("/").split("/")
        cluster_id = parts[1]
        if cluster_id not in self._clusters:
            raise _Reply(404, {"Code": "ErrorClusterNotFound", "Message": f"cluster {cluster_id} not found"})
        node_pool = self._pools.get((cluster_id, parts[3]))
        if node_pool is None:
            raise _Reply(404, {"Code": "ErrorNodePoolNotFound", "Message": f"node pool {parts[3]} not found"})
        return node_pool

    def _cs_pool_json(self, node_pool: _NodePool) -> dict[str, Any]:
        states = [self._member_state(m) for m in node_pool.members]
        return {
            "nodepool_info": {
                "nodepool_id": node_pool.id,
                "name": node_pool.name,
                "type": "ess",
                "region_id": self.region_id,
                "is_default": False,
            },
            "scaling_group": {
                "desired_size": node_pool.desired,
                "instance_types": [node_pool.instance_type],
                "instance_charge_type": "PostPaid",
                "tags": [{"key": k, "value": v} for k, v in node_pool.tags.items()],
            },
            "auto_scaling": {"enable": node_pool.autoscaling, "min_instances": 0, "max_instances": 100},
            "status": {
                "total_nodes": len(states),
                "healthy_nodes": states.count("running"),
                "serving_nodes": states.count("running"),
                "initial_nodes": states.count("initial"),
                "failed_nodes": states.count("failed"),
                "removing_nodes": 0,
                "offline_nodes": 0,
                "state": "active",
            },
        }

    def _cs_DescribeClusterNodePools(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        cluster_id = request.path.strip("/").split("/")[1]
        if cluster_id not in self._clusters:
            raise _Reply(404, {"Code": "ErrorClusterNotFound", "Message": f"cluster {cluster_id} not found"})
        pools = [self._cs_pool_json(p) for (c, _), p in self._pools.items() if c == cluster_id]
        return 200, {"nodepools": pools}

    def _cs_DescribeClusterNodePoolDetail(
        self, request: web.Request, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        return 200, self._cs_pool_json(self._cs_pool(request))

    def _cs_DescribeClusterNodes(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        cluster_id = request.path.strip("/").split("/")[1]
        if cluster_id not in self._clusters:
            raise _Reply(404, {"Code": "ErrorClusterNotFound", "Message": f"cluster {cluster_id} not found"})
        q = request.query
        try:
            size, number = int(q.get("pageSize", "10")), int(q.get("pageNumber", "1"))
        except ValueError:
            raise _Reply(400, {"Code": "InvalidParameter", "Message": "pageSize/pageNumber"}) from None
        if not 1 <= size <= 100 or number < 1:
            raise _Reply(400, {"Code": "InvalidParameter", "Message": "pageSize 1..100, pageNumber >= 1"})
        wanted_pool = q.get("nodepool_id")
        if wanted_pool is not None and (cluster_id, wanted_pool) not in self._pools:
            raise _Reply(
                404, {"Code": "ErrorNodePoolNotFound", "Message": f"node pool {wanted_pool} not found"}
            )
        nodes = []
        for (c, np_id), node_pool in self._pools.items():
            if c != cluster_id or wanted_pool not in (None, np_id):
                continue
            for member in node_pool.members:
                state = self._member_state(member)
                instance = self._instances[member.instance_id]
                nodes.append(
                    {
                        "instance_id": member.instance_id,
                        "node_name": member.node_name if state == "running" else "",
                        "state": state,
                        "node_status": "Ready" if state == "running" else "Unknown",
                        "nodepool_id": np_id,
                        "instance_type": node_pool.instance_type,
                        "creation_time": datetime.fromtimestamp(instance.created_at, UTC).isoformat(),
                        "instance_charge_type": "PostPaid",
                    }
                )
        if q.get("state") not in (None, "all"):
            nodes = [n for n in nodes if n["state"] == q["state"]]
        page = nodes[(number - 1) * size : number * size]
        return 200, {
            "nodes": page,
            "page": {"page_number": number, "page_size": size, "total_count": len(nodes)},
        }

    def _cs_ScaleClusterNodePool(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        node_pool = self._cs_pool(request)
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            raise _Reply(400, {"Code": "InvalidParameter", "Message": "the body is not JSON"}) from None
        count = payload.get("count") if isinstance(payload, dict) else None
        if isinstance(count, bool) or not isinstance(count, int):
            raise _Reply(400, {"Code": "MissingParameter", "Message": "count (int) is mandatory"})
        if not 1 <= count <= 500:
            raise _Reply(400, {"Code": "InvalidParameter", "Message": "count must be 1..500"})
        if node_pool.autoscaling:
            raise _Reply(
                400,
                {
                    "Code": "ErrorNodePoolAutoScalingEnabled",
                    "Message": "a node pool with auto scaling cannot be scaled manually",
                },
            )
        node_pool.desired += count
        for _ in range(count):
            self._launch(node_pool, None)
        return 202, {"task_id": f"T-{next(self._ids)}", "nodepool_id": node_pool.id}

    def _cs_RemoveNodePoolNodes(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        node_pool = self._cs_pool(request)
        raw = request.query.get("instance_ids") or request.query.get("nodes")
        if not raw:
            raise _Reply(400, {"Code": "MissingParameter", "Message": "instance_ids or nodes is mandatory"})
        try:
            ids = json.loads(raw)
        except ValueError:
            raise _Reply(
                400, {"Code": "InvalidParameter", "Message": "instance_ids must be a JSON list"}
            ) from None
        if not isinstance(ids, list) or not ids:
            raise _Reply(
                400, {"Code": "InvalidParameter", "Message": "instance_ids must be a non-empty list"}
            )
        by_id = {m.instance_id: m for m in node_pool.members}
        by_name = {m.node_name: m for m in node_pool.members}
        members = []
        for wanted in ids:
            member = by_id.get(wanted) if "instance_ids" in request.query else by_name.get(wanted)
            if member is None:
                raise _Reply(
                    400,
                    {
                        "Code": "ErrorNodeNotFound",
                        "Message": f"{wanted} is not a node of node pool {node_pool.id}",
                    },
                )
            members.append(member)
        release = request.query.get("release_node", "false").lower() == "true"
        node_pool.members = [m for m in node_pool.members if m not in members]
        node_pool.desired = max(0, node_pool.desired - len(members))
        for member in members:
            instance = self._instances[member.instance_id]
            instance.member_of = None
            instance.status = "Running"
            if release:
                instance.released = True
        return 200, {"task_id": f"T-{next(self._ids)}"}


@contextmanager
def running(**kwargs: Any) -> Iterator[FakeAlibabaCloud]:
    """A started fake, stopped on exit."""
    fake = FakeAlibabaCloud(**kwargs)
    with fake:
        yield fake
