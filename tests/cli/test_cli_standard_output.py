"""Standard output that cannot be written (a full disk, a reader that stopped) ends the
``aftersales`` console script with an error line and exit 1, never a traceback."""

from __future__ import annotations

import errno
import io
import sys

import pytest
from cli_helpers import Seeded

from aftersales.cli import main


class _Refusing(io.RawIOBase):
    """A device that refuses every write with ``refusal``."""

    def __init__(self, refusal: OSError) -> None:
        self.refusal: OSError | None = refusal

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.refusal is not None:
            raise self.refusal
        return len(data)


def _main_writing_to(
    refusal: OSError, monkeypatch: pytest.MonkeyPatch, *arguments: str
) -> int | None:
    device = _Refusing(refusal)
    stdout = io.TextIOWrapper(io.BufferedWriter(device), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["aftersales", *arguments])
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setenv("COLUMNS", "120")
    try:
        return main()
    except SystemExit as exit:  # pragma: no cover - shown if it fails
        return int(exit.code or 0)
    finally:
        device.refusal = None  # what is still buffered may go now
        stdout.close()


@pytest.mark.parametrize(
    "command",
    [["export"], ["export", "--format", "csv"], ["tickets", "list", "--json"], ["outbox"]],
)
def test_a_full_standard_output_is_an_error_line_and_exit_1(
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    assert _main_writing_to(full, monkeypatch, *command, "--db", str(seeded.db)) == 1
    assert capsys.readouterr().err == (
        "error: cannot write standard output: No space left on device\n"
    )


def test_a_reader_that_stopped_ends_the_command_quietly(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped = BrokenPipeError(errno.EPIPE, "Broken pipe")
    assert _main_writing_to(stopped, monkeypatch, "export", "--db", str(seeded.db)) == 1
    assert capsys.readouterr().err == ""
