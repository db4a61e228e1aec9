"""Ctrl-C in a stage: one line saying which stage stopped, status 130, no traceback.

Interrupting a stage loses nothing but its own work: every output goes through a temporary file that
is renamed into place (`core.tables`), so a file is whole or absent, and DVC, seeing the stage fail,
records none of it and runs the stage again next time, taking the stages before it from its cache.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import TracebackType

INTERRUPTED = 128 + signal.SIGINT  # the status a shell gives a command that Ctrl-C ended


def stage_name() -> str:
    """The stage as `dvc.yaml` names it (DVC sets DVC_STAGE for each command), else the script's name."""
    return os.environ.get("DVC_STAGE") or Path(sys.argv[0]).stem


def _report(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    print(
        f"interrupted: stage {stage_name()}; nothing half-written was kept, the next run resumes",
        file=sys.stderr,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # By now the stack has unwound (every `finally` and `with` has cleaned up), so what is left is
    # the interpreter's shutdown, where TensorFlow's threads can linger after an interrupt: skip it.
    os._exit(INTERRUPTED)


def report_interrupts() -> None:
    """From here on, an uncaught KeyboardInterrupt ends the process with one line on stderr and
    status 130 instead of a traceback; any other error is reported as usual. Ctrl-C raises
    KeyboardInterrupt even where the stage was started with SIGINT ignored (a shell's background job
    passes that on), so a stage can always be stopped."""
    sys.excepthook = _report
    signal.signal(signal.SIGINT, signal.default_int_handler)
