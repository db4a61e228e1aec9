"""Latency and throughput of `/api/predict` as served by `emotion serve` (waitress) on loopback.

Starts the real server in a child process, so the clients here do not share its interpreter, then
sends one in-memory 224x224 JPEG: N sequential requests (latency p50/p95), then a fixed number of
requests from concurrent clients (throughput). Any failed request makes the run fail (exit 1).

    python bench/serve_latency.py --model models/model.keras --requests 50
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

HOST = "127.0.0.1"  # loopback only: the benchmark never exposes the server
MAX_REQUESTS = 2000


def jpeg_224(seed: int = 0) -> bytes:
    """A smooth random colour field at VGG16's input size, JPEG-encoded in memory."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize((224, 224), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def multipart(field: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    """A multipart/form-data body with one file, and its Content-Type header."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes | None = None, content_type: str = "") -> bytes:
    """One request on a fresh connection; raises unless the answer is 200."""
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        connection.request(method, path, body, {"Content-Type": content_type} if content_type else {})
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path} answered {response.status}: {payload[:200]!r}")
        return payload
    finally:
        connection.close()


def wait_until_ready(server: subprocess.Popen, port: int, timeout: float) -> list[str]:
    """Poll /healthz until the model is loaded; returns the model's classes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"`emotion serve` exited with status {server.returncode}")
        try:
            return json.loads(request(port, "GET", "/healthz"))["classes"]
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"server not ready after {timeout:.0f} s")


def timed_predict(port: int, body: bytes, content_type: str) -> float:
    started = time.perf_counter()
    answer = json.loads(request(port, "POST", "/api/predict", body, content_type))
    elapsed = time.perf_counter() - started
    if "label" not in answer:
        raise RuntimeError(f"unexpected answer: {answer}")
    return elapsed


def measure(server: subprocess.Popen, port: int, args: argparse.Namespace) -> list[str]:
    """Warm up, then time sequential and concurrent requests; returns the report lines."""
    classes = wait_until_ready(server, port, args.startup_timeout)
    body, content_type = multipart("file", "bench.jpg", jpeg_224(), "image/jpeg")
    for _ in range(3):  # the first calls trace the model
        timed_predict(port, body, content_type)

    latencies = [timed_predict(port, body, content_type) * 1000 for _ in range(args.requests)]
    p50, p95 = np.percentile(latencies, [50, 95])

    errors: list[str] = []

    def client_call(_: int) -> None:
        try:
            timed_predict(port, body, content_type)
        except (OSError, RuntimeError, ValueError) as error:
            errors.append(str(error))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        list(pool.map(client_call, range(args.concurrent_requests)))
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(
            f"{len(errors)} of {args.concurrent_requests} concurrent requests failed: {errors[0]}"
        )
    return [
        f"model: {args.model} (classes: {', '.join(classes)}); waitress threads: {args.threads}",
        f"sequential, {args.requests} requests: p50 {p50:.1f} ms, p95 {p95:.1f} ms",
        f"concurrent, {args.clients} clients x {args.concurrent_requests} requests: "
        f"{args.concurrent_requests / elapsed:.1f} requests/s ({elapsed:.2f} s), 0 errors",
    ]


def bounded(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_REQUESTS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_REQUESTS}")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/model.keras"))
    parser.add_argument("--requests", type=bounded, default=50, help="sequential requests for latency")
    parser.add_argument("--concurrent-requests", type=bounded, default=200, help="requests for throughput")
    parser.add_argument("--clients", type=int, choices=range(1, 65), default=8, metavar="1-64")
    parser.add_argument("--threads", type=int, default=4, help="waitress threads")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    args = parser.parse_args()
    if not args.model.is_file():
        parser.error(f"model file not found: {args.model}")

    port = free_port()
    command = [sys.executable, "-m", "emotion_pipeline.serving.cli", "serve", "--model", str(args.model)]
    command += ["--host", HOST, "--port", str(port), "--threads", str(args.threads)]
    # The server's log (a queue-depth warning for every waiting request) is shown only on failure.
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            report = measure(server, port, args)
        except (OSError, RuntimeError, ValueError) as error:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:].decode(errors="replace"))
            print(f"FAILED: {error}", file=sys.stderr)
            return 1
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
