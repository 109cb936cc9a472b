"""burstd's log configuration: one stderr handler, third-party HTTP clients kept quiet, credentials redacted.

At DEBUG the Kubernetes client (``kubernetes_asyncio.client.rest``) logs every response body, and HTTP
libraries log headers. Whatever ``--log-level`` says, those loggers stay at WARNING, and every line written
(message, arguments and traceback alike) passes a redaction step that removes bearer tokens, Authorization
headers, token/password fields and the known secrets (the Prometheus bearer token, kubeconfig credentials).

Two formats (setting ``logFormat``): ``text``, one readable line per record, and ``json``, one JSON object
per line with the keys ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``, ``msg``, then the
structured fields a record carries (``fields(...)``: ``event``, ``policy``, ``phase``, ``reasons`` ...) and
``exception`` (the traceback, as one string). The JSON formatter is the standard library's ``logging`` with
a small formatter rather than structlog: burstd's records all go through stdlib loggers already (its own
and the libraries'), and redacting each string value before encoding keeps every line valid JSON.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

__all__ = [
    "FIELDS_ATTRIBUTE",
    "QUIET_LOGGERS",
    "REDACTED",
    "JsonFormatter",
    "RedactingFormatter",
    "configure_logging",
    "fields",
    "redact",
]

LogFormat = Literal["text", "json"]
#: the LogRecord attribute that carries a record's structured fields (``extra=fields(...)``)
FIELDS_ATTRIBUTE = "burstd_fields"
#: the keys every JSON line starts with; structured fields never replace them
BASE_KEYS = ("time", "level", "logger", "msg")

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


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: structured fields the JSON format writes as keys (the text format shows
    only the message). Values must be JSON-encodable (strings, numbers, lists, dicts, None)."""
    return {FIELDS_ATTRIBUTE: values}


def _redacted(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v, secrets) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value), secrets)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line; every string in it redacted like the text format."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, tz=UTC)
        line: dict[str, Any] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, FIELDS_ATTRIBUTE, None)
        if isinstance(extra, Mapping):
            for key, value in extra.items():
                if key not in BASE_KEYS:
                    line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(_redacted(line, self.secrets), ensure_ascii=False, separators=(",", ":"))


def configure_logging(
    level: str, secrets: Iterable[str] = (), stream: TextIO | None = None, log_format: LogFormat = "text"
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) at ``level``, redacted, as ``log_format`` (``text``
    or ``json``); returns the handler.

    Replaces the handler an earlier call installed. The loggers of ``QUIET_LOGGERS`` stay at WARNING or
    above whatever ``level`` is."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter = JsonFormatter(secrets) if log_format == "json" else RedactingFormatter(FORMAT, secrets)
    handler.setFormatter(formatter)
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
