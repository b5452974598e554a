"""What a test does without the server it needs (PostgreSQL, MariaDB, Redis, RabbitMQ):
skip, naming the variable that points it at one; in CI (``CI`` set), where every server
runs, fail instead, so a stopped server never passes as skipped tests."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(message: str) -> NoReturn:
    """Skip with ``message``, or fail with it in CI."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def no_server(name: str, url: object, variable: str, error: BaseException) -> NoReturn:
    """:func:`unavailable` for a server ``name`` that ``url`` did not reach."""
    unavailable(f"no {name} server at {url} ({type(error).__name__}); set {variable}")
