"""burstd's log configuration keeps credentials out of the log at every level, DEBUG included."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from burstd.runtime.logs import QUIET_LOGGERS, configure_logging, redact

SECRET = "kubeconfig-t0ken-9d2f"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = configure_logging("DEBUG", [SECRET], stream=out)
    try:
        yield out
    finally:
        logging.getLogger().removeHandler(handler)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_http_client_loggers_stay_at_warning_under_debug(stream: io.StringIO) -> None:
    logging.getLogger("kubernetes_asyncio.client.rest").debug("response body: %s", b'{"token": "abc"}')
    logging.getLogger("aiohttp.client").info("GET with headers %s", {"Authorization": "Bearer abc"})
    logging.getLogger("burstd.runtime").debug("a burstd debug line")
    text = stream.getvalue()
    assert "response body" not in text
    assert "GET with headers" not in text
    assert "a burstd debug line" in text


def test_credentials_are_redacted_in_messages_arguments_and_tracebacks(stream: io.StringIO) -> None:
    log = logging.getLogger("burstd.test")
    log.debug("headers: %s", {"Authorization": "Bearer eyJhbGciOi.abc.def", "Accept": "application/json"})
    log.info("sent Authorization: Basic dXNlcjpwYXNz")
    log.warning("server said: you sent %s", SECRET)
    log.error("config: %s", '{"token": "plain-token-123", "password": "hunter22"}')
    try:
        raise RuntimeError(f"request with {SECRET} failed")
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    for leaked in (SECRET, "eyJhbGciOi", "dXNlcjpwYXNz", "plain-token-123", "hunter22"):
        assert leaked not in text, leaked
    assert text.count("<redacted>") >= 6
    assert "application/json" in text  # the rest of a line survives
    assert "RuntimeError" in text


def test_redact_leaves_ordinary_text_alone() -> None:
    line = "prometheus.bearerTokenFile: cannot read /etc/burstd/token: no such file"
    assert redact(line) == line
    assert redact("token: abc123") == "token: <redacted>"
