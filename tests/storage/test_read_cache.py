"""SQLiteStore's page cache (``cache_mib``): set on its connection, checked before any
file is made, and large enough that pages read once are not read from the file again."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from aftersales import InvalidInput, SQLiteStore


def _cache_kib(store: SQLiteStore) -> int:
    with store._lock:
        value: int = store._conn.execute("PRAGMA cache_size").fetchone()[0]
    return value


def test_the_default_cache_is_64_mib(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "a.db") as store:
        assert _cache_kib(store) == -64 * 1024
        assert _cache_kib(store.for_tenant("shop-2")) == -64 * 1024  # one connection


def test_a_cache_of_its_own_size(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "a.db", cache_mib=3) as store:
        assert _cache_kib(store) == -3 * 1024


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "64", None, (1 << 20) + 1])
def test_a_cache_that_is_not_a_size_is_refused_before_any_file(
    tmp_path: Path, value: object
) -> None:
    with pytest.raises(InvalidInput, match="cache_mib"):
        SQLiteStore(tmp_path / "a.db", cache_mib=value)  # type: ignore[arg-type]
    assert not (tmp_path / "a.db").exists()


def _read_bytes() -> int:
    with open("/proc/self/io") as io:
        return int(next(line for line in io if line.startswith("rchar:")).split()[1])


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="counts reads on Linux")
@pytest.mark.parametrize(("cache_mib", "read_again"), [(64, False), (1, True)])
def test_pages_read_once_stay_in_the_cache(
    tmp_path: Path, cache_mib: int, read_again: bool
) -> None:
    """8 MB of rows read twice: the second pass reads nothing from the file with the
    default cache, and most of it again with a cache smaller than the rows (SQLite's own
    default of 2 MB was that)."""
    path = tmp_path / "a.db"
    with SQLiteStore(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE filler (x BLOB)")
        conn.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(2000),)] * 4000)
    conn.close()
    with SQLiteStore(path, cache_mib=cache_mib) as store:
        scan = "SELECT sum(length(x)) FROM filler"
        with store._lock:
            store._conn.execute(scan).fetchone()
            before = _read_bytes()
            store._conn.execute(scan).fetchone()
            again = _read_bytes() - before
    assert (again > 4_000_000) is read_again, again
