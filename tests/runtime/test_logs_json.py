"""``logFormat: json``: one JSON object per line, stable keys, structured fields, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from burstd.runtime.logs import QUIET_LOGGERS, REDACTED, configure_logging, fields
from burstd.runtime.settings import load_settings

SECRET = "kubeconfig-t0ken-9d2f"
#: RFC 3339, UTC, milliseconds
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = configure_logging("DEBUG", [SECRET], stream=out, log_format="json")
    try:
        yield out
    finally:
        logging.getLogger().removeHandler(handler)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, each parsed as one JSON object (a line that is not fails the test)."""
    text = stream.getvalue()
    assert text.endswith("\n")
    parsed = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


def test_every_line_is_one_json_object_with_the_stable_keys(stream: io.StringIO) -> None:
    logging.getLogger("burstd.runtime").info("policy %s: phase %s", "web", "Idle")
    logging.getLogger("aiohttp.server").error('a third-party line with\nsome "quotes" and a tab\t')
    logging.getLogger("kubernetes_asyncio.client.rest").warning("status %d", 503)
    out = lines(stream)
    assert [list(line)[:4] for line in out] == [["time", "level", "logger", "msg"]] * 3
    assert [(o["level"], o["logger"]) for o in out] == [
        ("INFO", "burstd.runtime"),
        ("ERROR", "aiohttp.server"),
        ("WARNING", "kubernetes_asyncio.client.rest"),
    ]
    assert out[0]["msg"] == "policy web: phase Idle"
    assert out[1]["msg"] == 'a third-party line with\nsome "quotes" and a tab\t'
    assert all(TIME.match(o["time"]) for o in out)


def test_structured_fields_become_keys_and_never_replace_the_base_keys(stream: io.StringIO) -> None:
    log = logging.getLogger("burstd.runtime")
    log.info(
        "policy web: phase Bursting",
        extra=fields(event="decision", policy="web", phase="Bursting", reasons=["demand 40 > 32"], msg="x"),
    )
    (line,) = lines(stream)
    assert line["msg"] == "policy web: phase Bursting"
    assert (line["event"], line["policy"], line["phase"], line["reasons"]) == (
        "decision",
        "web",
        "Bursting",
        ["demand 40 > 32"],
    )


def test_a_traceback_is_one_field_of_one_line_and_redacted(stream: io.StringIO) -> None:
    log = logging.getLogger("burstd.runtime")
    try:
        raise RuntimeError(f"request with Authorization: Bearer {SECRET} failed")
    except RuntimeError:
        log.exception("evaluation failed unexpectedly")
    logging.getLogger("urllib3").error("boom", stack_info=True)
    text = stream.getvalue()
    out = lines(stream)
    assert len(out) == 2
    assert out[0]["msg"] == "evaluation failed unexpectedly"
    assert out[0]["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: request with Authorization: " + REDACTED in out[0]["exception"]
    assert out[1]["stack"].startswith("Stack (most recent call last):")
    assert SECRET not in text


def test_secrets_never_appear_in_messages_arguments_or_fields(stream: io.StringIO) -> None:
    log = logging.getLogger("burstd.test")
    log.info("headers: %s", {"Authorization": "Bearer eyJhbGciOi.abc.def"})
    log.warning("server said: you sent %s", SECRET)
    log.error("config: %s", '{"token": "plain-token-123", "password": "hunter22"}')
    log.info("with fields", extra=fields(policy="web", reasons=[f"saw {SECRET}"], message={"k": SECRET}))
    logging.getLogger("aiohttp.client").error("sent %s", f'{{"password": "{SECRET}\\"quoted"}}')
    text = stream.getvalue()
    out = lines(stream)
    assert len(out) == 5
    for leaked in (SECRET, "eyJhbGciOi", "plain-token-123", "hunter22"):
        assert leaked not in text, leaked
    assert out[3]["reasons"] == [f"saw {REDACTED}"]
    assert out[3]["message"] == {"k": REDACTED}


def test_text_stays_the_default_format(stream: io.StringIO) -> None:
    assert load_settings(None).log_format == "text"
    out = io.StringIO()
    handler = configure_logging("INFO", [SECRET], stream=out)
    try:
        logging.getLogger("burstd.runtime").info("plain %s", SECRET, extra=fields(policy="web"))
    finally:
        logging.getLogger().removeHandler(handler)
    assert out.getvalue().endswith(f" INFO burstd.runtime: plain {REDACTED}\n")


def test_log_format_is_a_setting_an_environment_variable_and_a_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    from burstd.cli import build_parser

    monkeypatch.setenv("BURSTD_LOG_FORMAT", "json")
    assert load_settings(None).log_format == "json"
    assert load_settings(None, log_format="text").log_format == "text"
    args = build_parser().parse_args(["run", "--log-format", "json"])
    assert args.log_format == "json"
