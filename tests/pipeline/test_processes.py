"""The clean-up the queue test relies on, against stand-ins for a DVC queue worker that never exits."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import DeadlineExceeded, queue_workers, stopped_queue, wait_until

HANG = "import time; time.sleep(3600)"


def stand_in(project: Path, *argv: str) -> subprocess.Popen[bytes]:
    """A process that never exits, detached into its own session as DVC detaches its workers, and
    holding a pipe open as a worker holds the output of the `dvc queue start` that spawned it."""
    return subprocess.Popen(
        [sys.executable, "-c", HANG, *argv], cwd=project, stdout=subprocess.PIPE, start_new_session=True
    )


@pytest.mark.slow  # waits out a deadline
def test_a_worker_that_never_exits_is_ended_within_the_deadline(tmp_path: Path) -> None:
    project = tmp_path / "project"
    pid_dir = project / ".dvc/tmp/exps/celery"
    pid_dir.mkdir(parents=True)
    listed = stand_in(project)  # named by its pid file only
    (pid_dir / "dvc-exp-worker-1.pid").write_text(f"{listed.pid}\n")
    unlisted = stand_in(project, "exp", "queue-worker", "dvc-exp-x-2@localhost")  # its pid file lost
    try:
        assert {p.pid for p in queue_workers(project)} == {unlisted.pid}
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="still running"), stopped_queue(project):
            wait_until(lambda: (False, "1 task still running"), deadline=2, every=0.5)
        assert time.monotonic() - started < 60  # the deadline plus a `dvc queue stop` that fails at once
        for process in (listed, unlisted):
            assert process.wait(timeout=10) is not None
            assert process.stdout is not None and process.stdout.read() == b""  # the pipe is closed
        assert queue_workers(project) == []
    finally:
        for process in (listed, unlisted):
            process.kill()
            process.wait()


def test_wait_until_returns_the_finished_state_without_waiting_out_the_deadline() -> None:
    calls = iter([(False, "running"), (True, "2 done")])
    started = time.monotonic()
    assert wait_until(lambda: next(calls), deadline=60, every=0.1) == "2 done"
    assert time.monotonic() - started < 5
