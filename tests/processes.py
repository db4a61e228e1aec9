"""Background processes a test starts, and how to be sure they end.

DVC's queue runs experiments in detached celery workers that write their pid to
`.dvc/tmp/exps/celery/<worker>.pid` (and each experiment's runner to `.dvc/tmp/exps/run/…/*.pid`).
A worker can log "shutting down due to empty queue" and still never exit, so a test must neither
wait on a worker's pipe nor trust it to leave by itself: it polls with a deadline and ends every
process those pid files name, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

PID_FILES = ".dvc/tmp/exps"  # every `*.pid` below it names a worker or an experiment runner
# The dvc of the environment running the tests, even when that environment is not activated.
DVC = shutil.which("dvc", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


class DeadlineExceeded(AssertionError):
    """A background job did not finish in time; the message carries its last known state."""


def listed_processes(project: Path) -> list[psutil.Process]:
    """The live processes named by the queue's pid files under `project`."""
    found = []
    for pid_file in sorted((project / PID_FILES).rglob("*.pid")):
        with suppress(OSError, ValueError, psutil.Error):
            process = psutil.Process(int(pid_file.read_text().strip()))
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def queue_workers(project: Path) -> list[psutil.Process]:
    """Every live `dvc exp queue-worker` started from `project`, listed in a pid file or not."""
    found = {p.pid: p for p in listed_processes(project) if "queue-worker" in " ".join(_cmdline(p))}
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline, cwd = process.info["cmdline"] or [], process.info["cwd"] or ""
        if "queue-worker" in cmdline and Path(cwd).is_relative_to(project):
            found.setdefault(process.pid, process)
    return list(found.values())


def _cmdline(process: psutil.Process) -> list[str]:
    with suppress(psutil.Error):
        return process.cmdline()
    return []


def end_processes(processes: list[psutil.Process], grace: float = 10.0) -> None:
    """SIGTERM each process's group (a worker and its children), then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return
        for process in alive:
            with suppress(OSError, psutil.Error):
                group = os.getpgid(process.pid)
                if group == os.getpgrp():  # never signal the test's own group
                    process.send_signal(sig)
                else:
                    os.killpg(group, sig)
        psutil.wait_procs(alive, timeout=wait)


def stop_queue(project: Path, env: dict[str, str] | None = None) -> None:
    """Ask DVC to stop its workers, then end every process the pid files still name."""
    with suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run(
            [DVC or "dvc", "queue", "stop"],
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
    end_processes(listed_processes(project) + queue_workers(project))


@contextmanager
def stopped_queue(project: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run the block, then stop the queue's workers whether the block passed, failed or timed out."""
    try:
        yield
    finally:
        stop_queue(project, env)


def wait_until(done: Callable[[], tuple[bool, str]], deadline: float, every: float = 5.0) -> str:
    """Poll `done` (finished?, state text) until it says finished or `deadline` seconds pass."""
    end = time.monotonic() + deadline
    while True:
        finished, state = done()
        if finished:
            return state
        if time.monotonic() >= end:
            raise DeadlineExceeded(f"not finished after {deadline:.0f} s; last state:\n{state}")
        time.sleep(min(every, max(0.0, end - time.monotonic())))
