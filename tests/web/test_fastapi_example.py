"""examples/fastapi_app.py: the lifespan opens the desk on SQLite and closes it, the
header principal acts, and running the file tours the API."""

from __future__ import annotations

import asyncio
import runpy
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from aftersales import Desk, SQLiteStore
from aftersales.exceptions import StorageError

EXAMPLE = Path(__file__).parents[2] / "examples" / "fastapi_app.py"


def _serve(app: Any, requests: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Start the app (its lifespan), send the requests in order, stop it."""

    async def run() -> list[httpx.Response]:
        answers = []
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://shop.test"
            ) as client,
        ):
            for method, url, options in requests:
                answers.append(await client.request(method, url, **options))
        return answers

    return asyncio.run(run())


def test_the_app_keeps_its_desk_on_sqlite_for_the_life_of_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "shop.db"
    monkeypatch.setenv("AFTERSALES_DB", str(database))
    app = runpy.run_path(str(EXAMPLE))["app"]
    customer = {"headers": {"X-Demo-Principal": "customer:cust-7"}}
    (opened, listed, nobody, stranger, wrong_method) = _serve(
        app,
        [
            ("POST", "/api/tickets", {"json": {"channel": "app", "subject": "Hi"}, **customer}),
            ("GET", "/api/tickets", customer),
            ("GET", "/api/tickets", {}),
            ("GET", "/api/tickets", {"headers": {"X-Demo-Principal": "pirate:jack"}}),
            ("DELETE", "/api/tickets", customer),
        ],
    )
    assert opened.status_code == 201
    assert [t["id"] for t in listed.json()["items"]] == [opened.json()["id"]]
    for refused in (nobody, stranger):
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"] == "X-Demo-Principal"
        assert refused.json()["code"] == "unauthenticated"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    desk = app.state.desk
    with pytest.raises(StorageError, match="closed database"):  # closed on shutdown
        desk.get(opened.json()["id"])
    with Desk(SQLiteStore(database)) as reopened:
        assert reopened.get(opened.json()["id"]).customer_id == "cust-7"


def test_running_the_file_tours_the_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFTERSALES_DB", raising=False)
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "201 opened #1 for cust-42"
    assert "200 confirm -> confirmed" in lines
    assert "409 application/problem+json: trigger_not_allowed" in lines
    assert "401 without a principal: unauthenticated" in lines
    assert "201 return of the line the shop sold at 299.00" in lines
    assert "422 facts from the customer refused: fields.lines.0.facts" in lines
    assert lines[-1] == "200 the customer sees 1 ticket(s)"
    assert (tmp_path / "aftersales-web.db").exists()
