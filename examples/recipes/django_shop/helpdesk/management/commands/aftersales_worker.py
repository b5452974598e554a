"""``python manage.py aftersales_worker [--once]``: the desk's due work and outbox
deliveries, in a loop, with the project's desk (the same as ``aftersales worker
--app``, configured by Django's settings)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from aftersales import AftersalesError
from aftersales.worker import Worker
from helpdesk.desk import open_desk


class Command(BaseCommand):
    """Run the desk's due work and deliver its outbox until SIGTERM or SIGINT."""

    help = (
        "Run the desk's due work (SLA, auto-close, reminders, time rules) and deliver its "
        "outbox until SIGTERM or SIGINT; --once runs one pass and exits (for cron)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The worker's options."""
        parser.add_argument("--once", action="store_true", help="Run one pass and exit.")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between passes.")
        parser.add_argument("--batch", type=int, default=100, help="Notifications per claim.")

    def handle(self, *args: Any, once: bool, interval: float, batch: int, **options: Any) -> None:
        """Run the worker on a desk of its own, closed when it stops."""
        try:
            desk = open_desk()
            runner = Worker(desk, interval=interval, batch=batch)
        except AftersalesError as error:
            raise CommandError(str(error)) from None
        with desk:
            restore = runner.install_signal_handlers()
            try:
                if once:
                    self._run_once(runner)
                else:
                    runner.run_forever()
            except KeyboardInterrupt:
                # a second signal interrupted a delivery: its lease brings it back
                raise CommandError("interrupted during a delivery", returncode=130) from None
            finally:
                restore()

    def _run_once(self, runner: Worker) -> None:
        result = runner.run_once()
        if result.due_error is not None:
            raise CommandError(f"the due work failed: {result.due_error!r}")
        due = result.due
        self.stdout.write(
            f"delivered {result.dispatch.delivered}, failed {result.dispatch.failed}, "
            f"SLA events {len(due.sla_events) if due else 0}, "
            f"auto-closed {len(due.auto_closed) if due else 0}"
        )
