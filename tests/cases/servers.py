"""What a test does without the server it needs (PostgreSQL, MariaDB, Redis, RabbitMQ):
skip, naming the variable that points it at one; in CI (``CI`` set), where every server
runs, fail instead, so a stopped server never passes as skipped tests.

The suite runs on several pytest-xdist workers, and the server tests share databases
(PostgreSQL's and MariaDB's ``test``, Redis' numbered ones, RabbitMQ): they run one at a
time, in the xdist group ``servers``, on one worker. tests/conftest.py gives every test
that uses a server the ``servers`` marker (which puts it in that group) by reading the
test files (:class:`ServerReferences`), and :class:`ServerGuard` fails a test that
connects to a server without the marker, in any run, instead of letting it race.
"""

from __future__ import annotations

import ast
import inspect
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

MARKER = "servers"
"""The marker of a test that uses a database or broker server."""
GROUP = "servers"
"""The xdist group every test with :data:`MARKER` runs in."""


def unavailable(message: str) -> NoReturn:
    """Skip with ``message``, or fail with it in CI."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def no_server(name: str, url: object, variable: str, error: BaseException) -> NoReturn:
    """:func:`unavailable` for a server ``name`` that ``url`` did not reach."""
    unavailable(f"no {name} server at {url} ({type(error).__name__}); set {variable}")


# -- which tests use a server, read from the test files


TOKEN = "AFTERSALES_TEST_"
"""What every way to a test server names: the variable that points the tests at it."""
SEEDS = frozenset({("servers", "no_server"), ("servers", "unavailable")})
"""Names that mean a server wherever they are used: this module's own helpers."""
SERVER_WORDS = ("postgres", "mariadb", "mysql", "redis", "amqp", "rabbit", "nats")
"""What a parameter that picks a server (of a test or a fixture) says."""


class _Module:
    """One file of the tests folder, read once: its top-level definitions and what it
    imports (wherever in the file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.stem
        tree = ast.parse(path.read_bytes(), str(path))
        self.definitions: dict[str, list[ast.AST]] = {}
        for node in tree.body:
            for name in _defined_names(node):
                self.definitions.setdefault(name, []).append(node)
        self.imports: dict[str, tuple[str, str | None]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.partition(".")[0]
                    self.imports[local] = (alias.name if alias.asname else local, None)


def _defined_names(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield node.name
    elif isinstance(node, ast.Assign):
        for target in node.targets:
            yield from (n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
        yield node.target.id


class ServerReferences:
    """Which definitions in the files under ``root`` (the tests folder) reach a server: a
    definition whose text names a server's variable (:data:`TOKEN`), that uses
    :func:`no_server` or :func:`unavailable`, or that uses another such definition (of its
    own file, or imported by name from another file of the folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._modules: dict[Path, _Module | None] = {}
        self._by_name: dict[str, list[Path]] = {}
        for path in sorted(root.rglob("*.py")):
            self._by_name.setdefault(path.stem, []).append(path)
        self._known: dict[tuple[Path, str], bool] = {}

    def _module(self, path: Path) -> _Module | None:
        if path not in self._modules:
            try:
                self._modules[path] = _Module(path)
            except (OSError, SyntaxError, ValueError):
                self._modules[path] = None  # pytest reports the file itself
        return self._modules[path]

    def _files_of(self, name: str, near: Path) -> list[Path]:
        """The files an import of ``name`` from ``near`` may mean (a tests folder is on
        sys.path by its name, without packages): the neighbour first, else every one."""
        found = self._by_name.get(name, [])
        beside = [p for p in found if p.parent == near.parent]
        return beside or found

    def reaches_server(self, path: Path, name: str) -> bool:
        """Whether the top-level ``name`` of the file at ``path`` reaches a server."""
        key = (path, name)
        if key not in self._known:
            self._known[key] = False  # a cycle of uses is not a server by itself
            self._known[key] = self._decide(path, name)
        return self._known[key]

    def _decide(self, path: Path, name: str) -> bool:
        module = self._module(path)
        if module is None:
            return False
        if (module.name, name) in SEEDS:
            return True
        if name in module.definitions:
            return any(self._node_reaches(module, node) for node in module.definitions[name])
        if name in module.imports:
            source, attribute = module.imports[name]
            if attribute is not None:
                return any(self.reaches_server(p, attribute) for p in self._files_of(source, path))
        return False

    def _node_reaches(self, module: _Module, node: ast.AST) -> bool:
        for part in ast.walk(node):
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                if TOKEN in part.value:
                    return True
            elif isinstance(part, ast.Name):
                if self.reaches_server(module.path, part.id):
                    return True
            elif isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name):
                imported = module.imports.get(part.value.id)
                if imported is not None and imported[1] is None:
                    files = self._files_of(imported[0], module.path)
                    if any(self.reaches_server(p, part.attr) for p in files):
                        return True
        return False

    def _within(self, path: Path | None) -> bool:
        return path is not None and path.suffix == ".py" and path.is_relative_to(self.root)

    def _item_reaches(self, item: pytest.Item) -> bool:
        """Whether the test, its class or a fixture it uses reaches a server."""
        if self._within(item.path):
            cls = getattr(item, "cls", None)
            name = cls.__name__ if cls is not None else getattr(item, "originalname", None)
            if name and self.reaches_server(item.path, name):
                return True
        info = getattr(item, "_fixtureinfo", None)
        for fixture in getattr(item, "fixturenames", ()):
            for definition in (info.name2fixturedefs.get(fixture, ()) if info else ())[-1:]:
                # by its file: every conftest.py is a module named "conftest"
                function = inspect.unwrap(getattr(definition, "func", None))
                code = getattr(function, "__code__", None)
                if code is None:
                    continue
                file = Path(code.co_filename)
                if self._within(file) and self.reaches_server(
                    file, function.__qualname__.partition(".")[0]
                ):
                    return True
        return False

    def mark(self, items: list[pytest.Item], *, grouped: bool) -> None:
        """Give :data:`MARKER` to every item that uses a server (unless a parameter that
        picks a server, given to another item of its test, picks none here: the SQLite
        case of a test on every store), and then (``grouped``: xdist is loaded) the xdist
        group to every marked item."""
        reached = {id(item): self._item_reaches(item) for item in items}
        picking: dict[tuple[object, str], set[str]] = {}
        for item in items:
            for parameter in _server_parameters(item):
                picking.setdefault(_test_of(item), set()).add(parameter)
        for item in items:
            uses = item.get_closest_marker(MARKER) is not None
            if not uses and reached[id(item)]:
                chosen = picking.get(_test_of(item), set())
                uses = not chosen or bool(chosen & set(_server_parameters(item)))
                if uses:
                    item.add_marker(MARKER)
            if uses and grouped:
                item.add_marker(pytest.mark.xdist_group(GROUP))
                _name_group(item)


def _name_group(item: pytest.Item) -> None:
    """Under ``--dist loadgroup``, end the item's node id with ``@servers``, as xdist's own
    hook does: with pytest 9.2 its assignment to ``_nodeid`` no longer changes the node id
    (pytest-dev/pytest-xdist#1386), and the server tests went to every worker."""
    suffix = f"@{GROUP}"
    node_id = getattr(item, "_id", None)
    if not getattr(item.config.option, "loadgroup", False) or node_id is None:
        return
    if not str(node_id).endswith(suffix):
        from _pytest.nodeid import NodeId

        item._id = NodeId.parse(f"{node_id}{suffix}")


def _test_of(item: pytest.Item) -> tuple[object, str]:
    return (item.parent, getattr(item, "originalname", item.name))


def _server_parameters(item: pytest.Item) -> list[str]:
    """The names of the item's parameters whose value names a server."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return []
    return [
        name
        for name, value in callspec.params.items()
        if isinstance(value, str | tuple | list)
        and any(word in str(value).lower() for word in SERVER_WORDS)
    ]


# -- a test that connects to a server without the marker fails


SERVER_PORTS = {5432: "PostgreSQL", 3306: "MariaDB", 6379: "Redis", 5672: "RabbitMQ"}
SERVER_PORTS |= {4222: "NATS"}
SOCKET_NAMES = {".s.PGSQL.": "PostgreSQL", "mysql": "MariaDB", "redis": "Redis"}
LOCAL_DRIVERS = frozenset({"sqlite3", "pysqlite2", "aiosqlite"})


class ServerTestNotMarked(Exception):
    """A test connected to a server without the ``servers`` marker."""


class ServerGuard:
    """A pytest plugin: a test without :data:`MARKER` that connects to a server (a socket
    to a server's port or unix socket, or a SQLAlchemy connection to anything but
    SQLite) is refused the connection and fails, whatever it does with the error. Set-up
    and calls are watched; a teardown is not (a module's fixture may be torn down after
    a test of the module that does not use it)."""

    def __init__(self) -> None:
        self._item: pytest.Item | None = None
        self._phase = ""
        self._refused: dict[str, list[str]] = {}
        self.ports = dict(SERVER_PORTS)
        for variable, value in os.environ.items():
            if variable.startswith(TOKEN) and variable.endswith("_URL"):
                try:
                    port = urlsplit(value).port
                except ValueError:
                    continue
                if port:
                    self.ports.setdefault(port, variable)
        sys.addaudithook(self._audit)
        try:
            from sqlalchemy import event
            from sqlalchemy.pool import Pool
        except ImportError:
            pass
        else:
            event.listen(Pool, "connect", self._pool_connect)

    def _check(self, server: str) -> None:
        item = self._item
        if item is None or self._phase == "teardown" or item.get_closest_marker(MARKER):
            return
        message = (
            f"{item.nodeid} connected to {server} without the '{MARKER}' marker: tests on "
            "a server run one at a time in one xdist group. tests/conftest.py marks a test "
            f"whose code, class or fixtures use a name reaching {TOKEN}* variables or "
            "servers.no_server; this one reaches its server some other way: give it "
            f"@pytest.mark.{MARKER} (or pytestmark = pytest.mark.{MARKER} in its module)."
        )
        self._refused.setdefault(item.nodeid, []).append(message)
        raise ServerTestNotMarked(message)

    def _audit(self, event: str, arguments: tuple[Any, ...]) -> None:
        if event != "socket.connect" or self._item is None:
            return
        sock, address = arguments
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            server = self.ports.get(address[1]) if isinstance(address, tuple) else None
            if server:
                self._check(f"{server} at {address[0]}:{address[1]}")
        elif sock.family == getattr(socket, "AF_UNIX", None):
            path = os.fsdecode(address) if isinstance(address, str | bytes) else ""
            for part, server in SOCKET_NAMES.items():
                if part in path:
                    self._check(f"{server} at {path}")

    def _pool_connect(self, connection: object, record: object) -> None:
        driver = type(connection).__module__.partition(".")[0]
        if driver not in LOCAL_DRIVERS:
            self._check(f"a database through {driver}")

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        self._item = item
        try:
            return (yield)
        finally:
            self._item = None
            self._refused.pop(item.nodeid, None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._phase = "setup"
        grouped = getattr(item.config.option, "loadgroup", False) and item.nodeid.endswith(
            f"@{GROUP}"
        )
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if worker and not grouped and item.get_closest_marker(MARKER):
            pytest.fail(
                "the server tests share databases: on several xdist workers they need "
                f"--dist loadgroup, and their node ids to end with @{GROUP} (the group "
                "that one worker runs)"
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        self._phase = "call"

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        self._phase = "teardown"

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Iterator[pytest.TestReport]:
        report = yield
        refused = self._refused.pop(item.nodeid, None)
        if refused:  # failed, also when the test caught the error (and skipped)
            report.outcome = "failed"
            report.longrepr = "\n".join(refused)
        return report
