"""The cron recipe: the crontab line of docs/how-to/framework-recipes.md, run as cron
would run it (its command, with this test's database and this Python's ``aftersales``),
does the due work and delivers the outbox once."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from recipes_support import (
    BIN,
    DONE,
    RECIPES,
    ROOT,
    TIMEOUT,
    observe,
    open_overdue_ticket,
    recipe_env,
)

PAGE = ROOT / "docs" / "how-to" / "framework-recipes.md"
CRONTAB_LINE = re.compile(r"^\* \* \* \* \* cd (\S+) && (.+)$", re.MULTILINE)


def crontab_command() -> list[str]:
    """The command of the page's crontab line (after its ``cd``), as cron's shell splits it."""
    (match,) = CRONTAB_LINE.finditer(PAGE.read_text(encoding="utf-8"))
    return shlex.split(match[2])


def test_the_page_shows_one_crontab_line_running_one_pass_with_the_recipes_wiring() -> None:
    command = crontab_command()
    assert command[:3] == ["timeout", "300", ".venv/bin/aftersales"]
    assert command[3:5] == ["worker", "--once"]
    assert command[command.index("--app") + 1] == "wiring:build_desk"


def test_the_crontab_line_does_the_due_work_and_delivers_once(tmp_path: Path) -> None:
    if shutil.which("timeout") is None:
        pytest.skip("needs coreutils' timeout, as the crontab line does")
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    ticket = open_overdue_ticket(db)
    command = crontab_command()
    command[command.index(".venv/bin/aftersales")] = str(BIN / "aftersales")
    command[command.index("--db") + 1] = db

    # cron's cd: the recipes' folder, where --app finds wiring.py (not on PYTHONPATH)
    done = subprocess.run(
        command,
        cwd=RECIPES,
        env=recipe_env(PYTHONPATH=""),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert done.returncode == 0, done.stderr
    assert observe(db, ticket) == DONE
    # a second pass finds nothing left to do: nothing happens twice
    again = subprocess.run(command, cwd=RECIPES, capture_output=True, timeout=TIMEOUT)
    assert again.returncode == 0
    assert observe(db, ticket) == DONE
