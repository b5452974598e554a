"""Instructions per unit of work, counted by valgrind's callgrind (deterministic: the same
count whatever else the machine is doing).

A benchmark script that counts runs itself once per workload under valgrind with
collection off, as ``script --instructions <workload> <count>``: it sets the workload up
and warms it up there, then runs the measured batch inside ``sys.call_tracing`` (a C
function nothing else on these paths calls), which ``--toggle-collect`` turns collection
on for. Start-up, imports and set-up are not counted. By hand::

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \\
        python benchmarks/bench_transition.py --instructions desk 1000
    callgrind_annotate callgrind.out.<pid> | head -30
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


def instructions_per_unit(script: str, workloads: Iterable[str], count: int) -> dict[str, float]:
    """Each workload's instructions per unit (``count`` units in its measured batch), its
    valgrind processes run side by side."""
    with tempfile.TemporaryDirectory() as folder:
        outs = {workload: Path(folder) / f"{i}.out" for i, workload in enumerate(workloads)}
        runs = {
            workload: subprocess.Popen(
                [
                    "valgrind",
                    "--tool=callgrind",
                    "--collect-atstart=no",
                    "--toggle-collect=sys_call_tracing",
                    f"--callgrind-out-file={out}",
                    sys.executable,
                    script,
                    "--instructions",
                    workload,
                    str(count),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            for workload, out in outs.items()
        }
        totals = {}
        for workload, run in runs.items():
            _, errors = run.communicate()
            if run.returncode:
                raise RuntimeError(f"valgrind failed: {errors.decode()[-2000:]}")
            text = outs[workload].read_text()
            found = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
            assert found, "callgrind wrote no totals"
            # nothing collected: this Python's binary has no symbol sys_call_tracing
            assert int(found.group(1)) > 0, "callgrind collected nothing"
            totals[workload] = int(found.group(1)) / count
    return totals


def run_counted(batch: Callable[..., object], args: tuple[object, ...] = ()) -> None:
    """Run ``batch(*args)`` inside ``sys.call_tracing``, where callgrind collects, after a
    full collection: the set-up's garbage would otherwise fall due inside one workload's
    window and not another's (a full pass there cost a replay ~430k instructions)."""
    gc.collect()
    sys.call_tracing(batch, args)
