"""``burstd cost report``: read the persisted ledgers (the ``burstd-state-<policy>`` ConfigMaps on the
management cluster, or files) and print cost per burst, pool and policy (see burstd.runtime.costreport).

Exit codes: 0 report printed, 1 nothing to report or a state that cannot be read (each named), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from burstd.kube.errors import KubeError
from burstd.model.quantities import parse_duration
from burstd.model.state import BurstState
from burstd.runtime.costreport import build_report, render_json, render_table
from burstd.runtime.logs import redact
from burstd.runtime.settings import Settings, SettingsError, load_settings
from burstd.runtime.store import PREFIX, STATE_KEY

__all__ = ["ReportError", "add_arguments", "read_cluster_states", "read_state_files", "run", "states_of_list"]

EXIT_OK = 0
EXIT_INVALID = 1
POLICY_LABEL = "burstd.io/policy"


class ReportError(Exception):
    """The states cannot be read; the message says which and why (one line per problem)."""


class ConfigMapLister(Protocol):
    async def list_configmaps(
        self, namespace: str, *, label_selector: str | None = None
    ) -> dict[str, Any]: ...


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings file, as for 'burstd run' (the management cluster's kubeconfig and the namespace); "
        "BURSTD_* environment variables override it",
    )
    parser.add_argument(
        "--namespace", metavar="NAMESPACE", help="namespace of the state ConfigMaps (default: the settings')"
    )
    parser.add_argument(
        "--since",
        type=_duration,
        metavar="DURATION",
        help="only bursts that overlap the last DURATION (e.g. 30d, 12h); each is counted whole",
    )
    parser.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    parser.add_argument(
        "--state-file",
        action="append",
        type=Path,
        metavar="FILE",
        help="read states from FILE instead of the cluster (repeatable): a state ConfigMap or a list of them "
        "as JSON ('kubectl get configmap -l burstd.io/policy -o json'), or a bare state.json (the policy "
        "is named after the file)",
    )


def _parse(raw: object, where: str) -> BurstState:
    if not isinstance(raw, str):
        raise ReportError(f"{where} has no key {STATE_KEY!r}: not a burstd state")
    try:
        return BurstState.from_dict(json.loads(raw))
    except (ValueError, RecursionError) as exc:
        raise ReportError(f"{where} key {STATE_KEY!r} is not a valid burst state: {exc}") from None


def _configmap_state(cm: Mapping[str, Any], where: str) -> tuple[str, BurstState]:
    meta = cm.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = meta.get("namespace")
    where = f"{where}ConfigMap {namespace + '/' if namespace else ''}{name}"
    policy = (meta.get("labels") or {}).get(POLICY_LABEL) or name.removeprefix(PREFIX)
    data = cm.get("data") or {}
    return str(policy), _parse(data.get(STATE_KEY) if isinstance(data, Mapping) else None, where)


def states_of_list(items: Sequence[Mapping[str, Any]], where: str = "") -> dict[str, BurstState]:
    """The states of ``burstd-state-*`` ConfigMaps; ReportError naming every one that cannot be read."""
    states: dict[str, BurstState] = {}
    problems = []
    for cm in items:
        name = str((cm.get("metadata") or {}).get("name") or "")
        if not name.startswith(PREFIX):
            continue
        try:
            policy, state = _configmap_state(cm, where)
        except ReportError as exc:
            problems.append(str(exc))
            continue
        states[policy] = state
    if problems:
        raise ReportError("\n".join(problems))
    return states


def read_state_files(paths: Sequence[Path]) -> dict[str, BurstState]:
    states: dict[str, BurstState] = {}
    for path in paths:
        try:
            doc = json.loads(path.read_text())
        except OSError as exc:
            raise ReportError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ReportError(f"{path}: not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise ReportError(f"{path}: expected a JSON object (a ConfigMap, a List or a state)")
        if doc.get("kind") == "ConfigMap":
            states.update(states_of_list([doc], f"{path}: "))
        elif isinstance(doc.get("items"), list):
            states.update(states_of_list(doc["items"], f"{path}: "))
        else:
            try:
                states[path.stem.removeprefix(PREFIX)] = BurstState.from_dict(doc)
            except (ValueError, RecursionError) as exc:
                raise ReportError(f"{path}: not a valid burst state: {exc}") from None
    return states


async def list_states(client: ConfigMapLister, namespace: str) -> dict[str, BurstState]:
    cms = await client.list_configmaps(namespace, label_selector=POLICY_LABEL)
    return states_of_list(cms.get("items") or [])


async def read_cluster_states(settings: Settings) -> dict[str, BurstState]:
    """The states in ``settings.namespace`` on the management cluster. Raises ReportError."""
    from burstd.runtime.daemon import StartupError, connect

    where = f"namespace {settings.namespace} on the management cluster ({settings.management.describe()})"
    try:
        client = await connect("management", settings.management, request_timeout=settings.request_timeout)
    except StartupError as exc:
        raise ReportError(f"cannot connect to the management cluster: {exc}") from None
    try:
        states = await list_states(client, settings.namespace)
    except KubeError as exc:
        raise ReportError(
            f"cannot list the burst state ConfigMaps in {where}: {redact(exc.message)}"
        ) from None
    finally:
        await client.close()
    if not states:
        raise ReportError(
            f"no burst state ConfigMaps ({PREFIX}<policy>) in {where}: has burstd run there, with these settings?"
        )
    return states


def run(args: argparse.Namespace, clock: Callable[[], float] = time.time) -> int:
    try:
        if args.state_file:
            states = read_state_files(args.state_file)
        else:
            settings = load_settings(args.config, namespace=args.namespace)
            states = asyncio.run(read_cluster_states(settings))
    except SettingsError as exc:
        print(f"burstd cost report: invalid settings:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    except ReportError as exc:
        print(f"burstd cost report: {exc}", file=sys.stderr)
        return EXIT_INVALID
    report = build_report(states, clock(), args.since)
    sys.stdout.write(render_json(report) if args.format == "json" else render_table(report))
    return EXIT_OK
