"""``burstd run``: load settings and policies, then run the daemon until SIGTERM (or once, with --once)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from burstd.runtime.policies import read_policies
from burstd.runtime.settings import SettingsError, load_settings

EXIT_OK = 0
EXIT_INVALID = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings file (YAML); BURSTD_* environment variables override it, flags override both",
    )
    parser.add_argument(
        "--policies",
        action="append",
        type=Path,
        metavar="FILE_OR_DIR",
        help="policy file or directory (repeatable; replaces the settings' 'policies')",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help="do everything but write: log what would be written (no leader election, no Events)",
    )
    parser.add_argument(
        "--once", action="store_true", help="evaluate every policy once after sync, then exit"
    )
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default=None)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(
            args.config, dry_run=args.dry_run, policies=args.policies, log_level=args.log_level
        )
    except SettingsError as exc:
        print(f"burstd run: invalid settings:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    found, problems = read_policies(
        settings.policies, prometheus_configured=settings.prometheus.url is not None
    )
    if found is None:
        for line in problems:
            print(line, file=sys.stderr)
        print("burstd run: the policies are invalid; nothing was started", file=sys.stderr)
        return EXIT_INVALID

    from burstd.runtime.daemon import Daemon, StartupError

    async def main() -> None:
        daemon = Daemon(
            settings, found.policies, found.fleet_limits, once=args.once, policy_digest=found.digest
        )
        daemon.install_signal_handlers()
        await daemon.run()

    try:
        asyncio.run(main())
    except StartupError as exc:
        print(f"burstd run: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK
