"""burstd's log configuration: one stderr handler, third-party HTTP clients kept quiet, credentials redacted.

At DEBUG the Kubernetes client (``kubernetes_asyncio.client.rest``) logs every response body, and HTTP
libraries log headers. Whatever ``--log-level`` says, those loggers stay at WARNING, and every line written
(message, arguments and traceback alike) passes a redaction step that removes bearer tokens, Authorization
headers, token/password fields and the known secrets (the Prometheus bearer token, kubeconfig credentials).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO

__all__ = ["QUIET_LOGGERS", "REDACTED", "RedactingFormatter", "configure_logging", "redact"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "burstd"
REDACTED = "<redacted>"

#: third-party loggers that can write request or response contents; never below WARNING
QUIET_LOGGERS = (
    "kubernetes_asyncio",
    "kubernetes",
    "client",  # kubernetes_asyncio's Configuration.logger["package_logger"]
    "urllib3",
    "aiohttp",
    "httpx",
    "httpcore",
    "hpack",
)

#: secrets shorter than this are not replaced by value (too likely to match ordinary text)
MIN_SECRET_LENGTH = 6

_PATTERNS = (
    # Authorization: Bearer xxx / Basic xxx (header lines, dict reprs, JSON)
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+(?:\s+[^'\"\s,}]+)?"),
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]+"),
    # token, password, client-key-data ... as YAML/JSON/repr fields
    re.compile(
        r"(?i)((?<![\w/.-])['\"]?(?:[a-z_-]*token|password|passwd|secret|client-key-data|client_key_data|"
        r"api[_-]?key)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"
    ),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret and every credential-looking field replaced by ``<redacted>``."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\1{REDACTED}", text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats like ``logging.Formatter``, then redacts the whole line (tracebacks included)."""

    def __init__(self, fmt: str = FORMAT, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        # longest first, so a secret that contains another is removed whole
        self.secrets: tuple[str, ...] = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def configure_logging(
    level: str, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) at ``level``, redacted; returns the handler.

    Replaces the handler an earlier call installed. The loggers of ``QUIET_LOGGERS`` stay at WARNING or
    above whatever ``level`` is."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT, secrets))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    floor = max(logging.WARNING, logging.getLevelName(level) if isinstance(level, str) else level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(floor)
    return handler
