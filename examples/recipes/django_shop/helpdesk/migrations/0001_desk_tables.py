"""Create the desk's tables beside Django's when ``manage.py migrate`` runs, so that the
web processes and workers started after a deploy find them."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import migrations


def create_desk_tables(apps: Any, schema_editor: Any) -> None:
    """Open the desk's store on the database being migrated (which creates its tables,
    or brings an older schema up to date) and close it."""
    from helpdesk.desk import open_store

    open_store(schema_editor.connection.settings_dict).close()


class Migration(migrations.Migration):
    """The desk's tables (the store manages its own schema versions)."""

    atomic = False  # the store creates its tables on a connection of its own
    dependencies: ClassVar[list[tuple[str, str]]] = []
    operations: ClassVar[list[migrations.RunPython]] = [
        migrations.RunPython(create_desk_tables, migrations.RunPython.noop)
    ]
