"""SIGTERM stops a worker wherever it lands, even inside the wait between passes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# The lock threading.Event.wait holds in the main thread is taken here while SIGTERM
# lands, so that the handler runs where a handler taking that lock (Event.set) would
# wait for itself forever: a stop that takes no lock ends the loop at once.
STOPPED_INSIDE_THE_WAIT = textwrap.dedent(
    """
    import os, signal

    from aftersales import Desk
    from aftersales.worker import Worker

    worker = Worker(Desk(), interval=3600)
    worker.install_signal_handlers()
    with worker._stop._wake._cond:
        os.kill(os.getpid(), signal.SIGTERM)
        assert worker.stopping
    worker.run_forever()  # an hour's interval: only the stop ends it
    print("stopped")
    """
)


def test_sigterm_landing_while_the_wait_holds_its_lock_stops_the_worker() -> None:
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_INSIDE_THE_WAIT],
        capture_output=True,
        text=True,
        timeout=60,  # generous: it stops at once, or never
        check=False,
    )

    assert (done.returncode, done.stdout.strip()) == (0, "stopped"), done.stderr[-2000:]


def test_a_stop_requested_from_a_thread_wakes_the_wait() -> None:
    import threading

    from aftersales.worker import StopRequest

    stop = StopRequest()
    threading.Thread(target=stop.set).start()

    assert stop.wait(3600)  # an hour: only the request ends it
    assert stop.is_set()
