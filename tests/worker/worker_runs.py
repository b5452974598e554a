"""Worker subprocesses for the tests: ``aftersales worker`` on a SQLite file with the app
of :mod:`worker_app`, and waiting on what they did."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

HERE = Path(__file__).parent
TIMEOUT = 120.0
"""Seconds a test waits for something it observes before it fails (generous: CI is slow)."""


def start_worker(
    db: Path | str, folder: Path, log: Path, extra_env: Mapping[str, str], *arguments: str
) -> subprocess.Popen[bytes]:
    """``aftersales worker --db db --app worker_app:build`` in a new process, its
    standard error (the log) appended to ``log``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        "WORKER_TEST_DIR": str(folder),
        **extra_env,
    }
    with log.open("ab") as errors:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from aftersales.cli import main; sys.exit(main())",
                "worker",
                "--db",
                str(db),
                "--app",
                "worker_app:build",
                "--interval",
                "0.05",
                *arguments,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
