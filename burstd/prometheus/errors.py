"""How a PromQL query can fail, classified so callers know whether to retry, fix the query or the token.

Every error names the query it belongs to. Messages never contain the bearer token (the source redacts
anything it did not write itself before raising).
"""

from __future__ import annotations

from typing import Self


class PrometheusError(Exception):
    """A query produced no usable sample. ``query`` is the PromQL text; ``message`` says why."""

    def __init__(self, query: str, message: str) -> None:
        self.query = query
        self.message = message
        super().__init__(f"PromQL query {query!r}: {message}")

    def redacted(self, secret: str | None) -> Self:
        """The same error with every occurrence of ``secret`` replaced by ``***``."""
        if not secret or secret not in self.message:
            return self
        return type(self)(self.query, self.message.replace(secret, "***"))


class PrometheusUnavailable(PrometheusError):
    """Prometheus could not answer: connection refused, timeout, 429 or 5xx. Retried with backoff."""


class QueryRejected(PrometheusError):
    """Prometheus refused the query (400/422 ``bad_data``/``execution``): the query is wrong. Not retried."""


class AuthFailed(PrometheusError):
    """401/403: the bearer token is missing, wrong or lacks permission. Not retried."""


class BadResponse(PrometheusError):
    """Prometheus answered, but not with one number: several series, a range vector, or a malformed body."""
