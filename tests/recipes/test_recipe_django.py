"""The Django recipe (examples/recipes/django_shop): ``manage.py migrate`` puts the
desk's tables beside Django's in one PostgreSQL database, the views open and show a
ticket, and ``manage.py aftersales_worker`` does the due work and delivers the outbox.

Runs on the PostgreSQL server of AFTERSALES_TEST_POSTGRES_URL, in a database of its own
(``recipes_django``) that it creates and drops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from recipes_support import DONE, RECIPES, observe, recipe_env, server_url, stop, wait_until
from servers import unavailable

sqlalchemy = pytest.importorskip("sqlalchemy")
pytest.importorskip("django")

PROJECT = RECIPES / "django_shop"
DATABASE = "recipes_django"


def _recreate(admin_url: str, *, create: bool) -> None:
    engine = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            if create:
                connection.execute(sqlalchemy.text(f"CREATE DATABASE {DATABASE}"))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[str, dict[str, str]]]:
    """The SQLAlchemy URL of the shop's fresh database, migrated, and the environment
    that points ``manage.py`` at it."""
    admin_url = server_url("postgresql")
    url = sqlalchemy.engine.make_url(admin_url).set(database=DATABASE)
    _recreate(admin_url, create=True)
    env = recipe_env(
        SHOP_DB_NAME=DATABASE,
        SHOP_DB_USER=url.username or "",
        SHOP_DB_PASSWORD=url.password or "",
        SHOP_DB_HOST=url.host or "",
        SHOP_DB_PORT=str(url.port or ""),
        DJANGO_SECRET_KEY="recipes-test-key-" + "x" * 40,
    )
    try:
        migrated = manage(env, "migrate", "--no-input")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        yield url.render_as_string(hide_password=False), env
    finally:
        _recreate(admin_url, create=False)


def manage(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    """``python manage.py <arguments>`` in the project, to its end."""
    return subprocess.run(
        [sys.executable, "-W", "error", "manage.py", *arguments],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# Django's test client in the project's own process: the views with the project's desk.
CLIENT_SCRIPT = """
import json
from datetime import datetime, timedelta, timezone
from django.test import Client
from aftersales import FrozenClock
from helpdesk.desk import build_desk, open_store

client = Client()
opened = client.post("/tickets/", {"customer": "c-1", "subject": "Kettle leaks"})
shown = client.get(opened.json()["url"])
refused = client.post("/tickets/", {"customer": "c-1"})
missing = client.get("/tickets/no-such-ticket/")
two_hours_ago = FrozenClock(datetime.now(timezone.utc) - timedelta(hours=2))
with build_desk(open_store(), clock=two_hours_ago) as desk:
    overdue = desk.open_ticket(customer="c-2", channel="email", subject="No reply").id
print(json.dumps({
    "opened": [opened.status_code, opened.json()],
    "shown": [shown.status_code, shown.json()],
    "refused": [refused.status_code, refused.json()],
    "missing": missing.status_code,
    "overdue": overdue,
}))
"""


def test_migrate_puts_the_desks_tables_beside_djangos(shop: tuple[str, dict[str, str]]) -> None:
    url, _ = shop
    engine = sqlalchemy.create_engine(url)
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"django_migrations", "auth_user", "tickets", "events", "outbox"} <= tables


def test_the_views_open_and_show_a_ticket_and_the_worker_command_delivers_and_breaches(
    shop: tuple[str, dict[str, str]],
) -> None:
    url, env = shop
    done = manage(env, "shell", "-c", CLIENT_SCRIPT)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    status, body = seen["opened"]
    assert status == 201
    assert body["url"] == f"/tickets/{body['id']}/"
    assert seen["shown"] == [
        200,
        {
            "id": body["id"],
            "number": body["number"],
            "subject": "Kettle leaks",
            "status": "new",
            "sla_first_response": "pending",
            "sla_due_at": seen["shown"][1]["sla_due_at"],
        },
    ]
    assert seen["refused"][0] == 422
    assert [error["field"] for error in seen["refused"][1]["errors"]] == [["subject"]]
    assert seen["missing"] == 404
    # the requests only wrote the notifications: the worker delivers them
    assert observe(url, body["id"]) == (["created"], {"receipt": "pending"})
    assert observe(url, seen["overdue"]) == (["created"], {"receipt": "pending"})

    worked = manage(env, "aftersales_worker", "--once")

    assert worked.returncode == 0, worked.stderr
    assert "delivered 3," in worked.stdout
    assert observe(url, body["id"]) == (["created"], {"receipt": "delivered"})
    assert observe(url, seen["overdue"]) == DONE


def test_the_worker_command_loops_until_sigterm(shop: tuple[str, dict[str, str]]) -> None:
    url, env = shop
    done = manage(env, "shell", "-c", CLIENT_SCRIPT)
    assert done.returncode == 0, done.stderr
    overdue = json.loads(done.stdout.strip().splitlines()[-1])["overdue"]
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "aftersales_worker", "--interval", "0.2"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: observe(url, overdue) == DONE, "the due work done", process=worker)
    finally:
        output = stop(worker)
    assert worker.returncode == 0, output


SOCKET_VARIABLE = "AFTERSALES_TEST_POSTGRES_SOCKET"
SOCKET_DEFAULT = "/var/run/postgresql"


def _socket_folder() -> str:
    """The folder of the PostgreSQL server's Unix socket; skip (fail in CI) without one."""
    folder = os.environ.get(SOCKET_VARIABLE, SOCKET_DEFAULT)
    if not list(Path(folder).glob(".s.PGSQL.*")):
        unavailable(f"no PostgreSQL socket in {folder}; set {SOCKET_VARIABLE}")
    return folder


def test_the_desk_reaches_djangos_database_through_a_unix_socket_with_its_options(
    shop: tuple[str, dict[str, str]],
) -> None:
    sys.path.insert(0, str(PROJECT))
    try:
        from helpdesk.desk import store_url
    finally:
        sys.path.remove(str(PROJECT))
    url, _ = shop
    tcp = sqlalchemy.engine.make_url(url)
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE,
        "USER": tcp.username or "",
        "PASSWORD": tcp.password or "",
        "HOST": _socket_folder(),
        "PORT": str(tcp.port or ""),
        "OPTIONS": {"application_name": "aftersales-recipes", "connect_timeout": 5},
    }
    engine = sqlalchemy.create_engine(store_url(database))
    try:
        with engine.connect() as connection:
            seen = connection.execute(
                sqlalchemy.text(
                    "SELECT current_database(), current_setting('application_name'),"
                    " inet_server_addr() IS NULL"
                )
            ).one()
            tables = set(sqlalchemy.inspect(connection).get_table_names())
    finally:
        engine.dispose()
    # the same database Django migrated, over the socket (no server address), as named
    assert tuple(seen) == (DATABASE, "aftersales-recipes", True)
    assert {"django_migrations", "tickets", "outbox"} <= tables


SETTINGS_SCRIPT = "import shop.settings as s; print(s.DEBUG, len(s.SECRET_KEY))"


@pytest.mark.parametrize(
    ("debug", "refused"), [(None, True), ("0", True), ("1", False)], ids=["unset", "off", "on"]
)
def test_the_settings_refuse_to_start_without_a_secret_key_unless_debug_is_on(
    debug: str | None, refused: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    if debug is not None:
        env["DJANGO_DEBUG"] = debug
    loaded = subprocess.run(
        [sys.executable, "-c", SETTINGS_SCRIPT],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if refused:
        assert loaded.returncode != 0
        assert "ImproperlyConfigured: set DJANGO_SECRET_KEY" in loaded.stderr
    else:
        assert loaded.returncode == 0, loaded.stderr
        debug_on, key_length = loaded.stdout.split()
        assert debug_on == "True"
        assert int(key_length) >= 50  # a key made up for the process
