"""``burstd run``: load settings and policies, then run the daemon until SIGTERM (or once, with --once)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from burstd.runtime import preflight
from burstd.runtime.logs import configure_logging, redact
from burstd.runtime.policies import read_policies
from burstd.runtime.settings import SettingsError, load_settings_with_origins

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
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=None,
        help="text (default) or json: one JSON object per line (setting logFormat)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings, origins = load_settings_with_origins(
            args.config,
            dry_run=args.dry_run,
            policies=args.policies,
            log_level=args.log_level,
            log_format=args.log_format,
        )
    except SettingsError as exc:
        print(f"burstd run: invalid settings:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    checked = preflight.check(settings, origins)
    if checked.problems:
        print("burstd run: cannot start; nothing was started:", file=sys.stderr)
        for line in checked.problems:
            print(line, file=sys.stderr)
        return EXIT_INVALID
    configure_logging(settings.log_level, checked.secrets, log_format=settings.log_format)
    found, problems = read_policies(
        settings.policies,
        prometheus_configured=settings.prometheus.url is not None,
        watch_timeout=settings.watch_timeout,
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
    except OSError as exc:  # e.g. the HTTP port taken by someone else after the preflight check
        print(f"burstd run: {redact(str(exc), checked.secrets)}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK
