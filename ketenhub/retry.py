"""Trying a call again within a run: a peer that is busy or a transfer that broke. What is
retried across runs (a delivery's next attempt) is the delivery's own backoff (deliver.run)."""
from __future__ import annotations

import logging
from time import sleep
from typing import Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def with_retries(attempt: Callable[[bool], T], retry_on: tuple[type[BaseException], ...], attempts: int,
                 backoff: float, what: str) -> T:
    """``attempt(last)`` up to ``attempts`` times while it raises one of ``retry_on``, waiting
    ``backoff`` seconds, then twice that, and so on; the last error is raised. ``last`` tells
    the attempt that no other will follow. Logged by the error's type: its text may quote a peer."""
    for n in range(1, attempts + 1):
        try:
            return attempt(n == attempts)
        except retry_on as e:
            if n == attempts:
                raise
            log.warning("%s: %s; attempt %d of %d", what, type(e).__name__, n, attempts)
            sleep(backoff * 2 ** (n - 1))
    raise ValueError("attempts must be at least 1")
