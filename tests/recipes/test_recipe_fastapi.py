"""The FastAPI recipe (examples/recipes/fastapi_app.py): its app, served in this process
through its lifespan, opens a ticket over HTTP on the store ``AFTERSALES_DB`` names, and
a recipe's worker (the cron recipe's ``aftersales worker --once`` with the same wiring)
delivers the receipt the request only wrote."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
from recipes_support import BIN, RECIPES, TIMEOUT, observe, recipe_env

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

import fastapi_app  # noqa: E402 - after the skips: the recipe needs fastapi


async def _serve(requests: list[tuple[str, str, dict[str, Any] | None, str | None]]) -> list[Any]:
    """Send ``requests`` (method, path, JSON body, principal header) to the recipe's app,
    started and stopped by its lifespan; their responses."""
    app = fastapi_app.app
    transport = httpx.ASGITransport(app=app)
    responses = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://shop.example") as client,
    ):
        for method, path, body, principal in requests:
            headers = {"X-Demo-Principal": principal} if principal else {}
            responses.append(await client.request(method, path, json=body, headers=headers))
    return responses


def test_a_ticket_opened_over_http_gets_its_receipt_from_a_recipe_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    monkeypatch.setenv("AFTERSALES_DB", db)
    ticket = {"channel": "email", "subject": "Kettle leaks"}

    (opened,) = asyncio.run(_serve([("POST", "/api/tickets", ticket, "customer:c-1")]))

    assert opened.status_code == 201, opened.text
    ticket_id = opened.json()["id"]
    assert opened.json()["customer_id"] == "c-1"
    # the request only wrote the receipt: a worker delivers it
    assert observe(db, ticket_id) == (["created"], {"receipt": "pending"})

    worked = subprocess.run(
        [str(BIN / "aftersales"), "worker", "--once", "--db", db, "--app", "wiring:build_desk"],
        cwd=RECIPES,
        env=recipe_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert worked.returncode == 0, worked.stderr
    assert observe(db, ticket_id) == (["created"], {"receipt": "delivered"})


def test_the_app_serves_each_customer_its_own_tickets_and_nobody_anonymously(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFTERSALES_DB", f"sqlite:///{tmp_path / 'desk.db'}")
    ticket = {"channel": "email", "subject": "Kettle leaks"}

    async def scenario() -> tuple[Any, ...]:
        (opened,) = await _serve([("POST", "/api/tickets", ticket, "customer:c-1")])
        path = f"/api/tickets/{opened.json()['id']}"
        # a second start of the app (a restart) finds the ticket in the same store
        return (
            opened,
            *await _serve(
                [
                    ("GET", path, None, "customer:c-1"),
                    ("GET", path, None, "customer:c-2"),
                    ("GET", path, None, None),
                    ("GET", path, None, "agent:li.wei"),
                ]
            ),
        )

    opened, own, other, anonymous, agent = asyncio.run(scenario())

    assert opened.status_code == 201
    assert (own.status_code, own.json()["id"]) == (200, opened.json()["id"])
    assert other.status_code == 404
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
    assert agent.status_code == 200
