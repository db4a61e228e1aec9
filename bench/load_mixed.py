"""Load benchmark: the web app under concurrent uploads of good and bad files must never answer 5xx.

Starts `emotion serve` as a subprocess on a free loopback port, sends a bounded number of uploads
drawn in a fixed rotation from the test corpus (valid odd images, corrupt files, decompression
bombs, formats outside the list: TIFF, EPS, PSD, ICO) plus hostile extras (a 10,000 x 10,000
16-bit greyscale PNG of 194 KB, an upload over the 10 MB limit), and prints the answers per status
code, latency percentiles (all uploads, and the small ones alone: they must not queue behind large
decodes) and the server's memory. Exits non-zero on any 5xx, any answer other than those expected
for the file (a large image may be answered 429 while another decodes), or a traceback in the
server's log.

    python bench/load_mixed.py --model models/model.keras --requests 500 --clients 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from corpus import corpus_files, uniform_png

HOST = "127.0.0.1"  # loopback only
MAX_REQUESTS = 5000
MAX_CLIENTS = 64


@dataclass(frozen=True)
class Upload:
    name: str
    body: bytes
    content_type: str
    expected: frozenset[int]
    small: bool  # decodes under LARGE_BYTES (or not at all): never waits for a large decode


@dataclass(frozen=True)
class Answer:
    upload: Upload
    status: int
    seconds: float
    body: str  # the start of the answer: a JSON prediction or error


def upload(relative: str, data: bytes, expected: set[int], small: bool = True) -> Upload:
    """One file as a ready multipart body."""
    boundary = uuid.uuid4().hex
    name = Path(relative).name.replace('"', "'")
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return Upload(relative, body, f"multipart/form-data; boundary={boundary}", frozenset(expected), small)


def uploads() -> list[Upload]:
    """Each corpus file, expecting 200 if it decodes and 400 if not, then the hostile extras; large
    images may also be answered 429 (busy) while another large one decodes."""
    result = []
    for relative, (data, expectation) in corpus_files().items():
        expected = {400} if expectation.load_error else {200, 429} if expectation.large else {200}
        result.append(upload(relative, data, expected, small=not expectation.large))
    return [
        *result,
        upload("hostile/scan 16-bit 10k.png", uniform_png(10_000, 10_000, 16), {200, 429}, small=False),
        upload("hostile/over 10 MB.png", bytes(10_500_000), {413}),
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_ready(port: int, server: subprocess.Popen, timeout: float) -> None:
    """Poll /healthz until the model is loaded and the server answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with status {server.returncode} before answering")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server not ready after {timeout:.0f} s")


def send(port: int, upload: Upload) -> Answer:
    started = time.perf_counter()
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        connection.request("POST", "/api/predict", upload.body, {"Content-Type": upload.content_type})
        response = connection.getresponse()
        body = response.read()[:300].decode(errors="replace")
        status = response.status
    finally:
        connection.close()
    return Answer(upload, status, time.perf_counter() - started, body)


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    latency = np.array(seconds) * 1000
    return {
        **{f"p{q}": round(float(np.percentile(latency, q)), 1) for q in (50, 95, 99)},
        "max": round(float(latency.max()), 1),
    }


def rss_mb(process: psutil.Process) -> float:
    return process.memory_info().rss / 2**20


def peak_rss_mb(pid: int) -> float | None:
    """The high-water mark of resident memory (Linux only): spikes between samples count too."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss(pid: int) -> None:
    """Restart the high-water mark from the current RSS (Linux), so the peak is the load's, not the
    model loading's."""
    with suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class Server:
    port: int
    process: psutil.Process
    log: str = ""  # its output, once it has ended


@contextmanager
def serving(model: Path, threads: int, startup_timeout: float) -> Iterator[Server]:
    """`emotion serve` on a free loopback port, answering; terminated whatever happens."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        command = [sys.executable, "-m", "emotion_pipeline.serving.cli", "serve", "--model", str(model)]
        command += ["--host", HOST, "--port", str(port), "--threads", str(threads)]
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        served = Server(port, psutil.Process(server.pid))
        try:
            wait_ready(port, server, startup_timeout)
            reset_peak_rss(server.pid)
            yield served
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.seek(0)
            served.log = log.read()


def bounded(limit: int) -> Callable[[str], int]:
    """An argparse type for an integer in [1, limit]: the load stays bounded."""

    def parse(text: str) -> int:
        value = int(text)
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be between 1 and {limit}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("models/model.keras"))
    parser.add_argument("--requests", type=bounded(MAX_REQUESTS), default=500)
    parser.add_argument("--clients", type=bounded(MAX_CLIENTS), default=8, help="concurrent clients")
    parser.add_argument("--threads", type=bounded(MAX_CLIENTS), default=4, help="server threads")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)

    files = uploads()
    plan = [files[index % len(files)] for index in range(args.requests)]
    with serving(args.model, args.threads, args.startup_timeout) as server:
        before = rss_mb(server.process)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            answers = list(pool.map(lambda upload: send(server.port, upload), plan))
        wall = time.perf_counter() - started
        after, peak = rss_mb(server.process), peak_rss_mb(server.process.pid)

    statuses = Counter(answer.status for answer in answers)
    wrong = Counter((a.upload.name, a.status) for a in answers if a.status not in a.upload.expected)
    summary = {
        "requests": len(answers),
        "clients": args.clients,
        "distinct_files": len(files),
        "status_counts": {str(code): count for code, count in sorted(statuses.items())},
        "unexpected": {f"{name} -> {status}": count for (name, status), count in sorted(wrong.items())},
        "latency_ms": percentiles_ms([answer.seconds for answer in answers]),
        "latency_ms_small_uploads": percentiles_ms([a.seconds for a in answers if a.upload.small]),
        "throughput_rps": round(len(answers) / wall, 1),
        "server_rss_mb": {"before": round(before), "after": round(after), "peak": peak and round(peak)},
        "tracebacks_in_server_log": server.log.count("Traceback"),
    }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    failures = sum(count for code, count in statuses.items() if code >= 500)
    if failures or wrong or summary["tracebacks_in_server_log"]:
        print(f"FAIL: {failures} 5xx, {sum(wrong.values())} unexpected statuses, see above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
