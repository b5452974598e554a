"""Fixtures of the command-line tests (helpers in ``cli_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Seeded, seed


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    """A SQLite desk file seeded by :func:`cli_helpers.seed`."""
    return seed(tmp_path / "desk.db")


@pytest.fixture
def no_dot_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which no Graphviz ``dot`` can be found."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
