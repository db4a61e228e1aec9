"""Hostile uploads against `emotion serve`: what one costly file does to the server, and to others.

(a) one 10,000 x 10,000 16-bit greyscale PNG (194 KB) alone: its answer, time and the server's
peak memory growth; (b) four of them at once with 20 small uploads: the small ones must not queue
behind the large decodes; (c) TIFF and EPS: 400 `unsupported kind of image`. Prints JSON; exits
non-zero on any answer outside those expected (never a 5xx) or a traceback in the server's log.

    python bench/hostile_uploads.py --model models/model.keras
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
from load_mixed import Upload, peak_rss_mb, reset_peak_rss, rss_mb, send, serving, upload

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from corpus import EPS, encode, noise, uniform_png


def phases() -> dict[str, list[Upload]]:
    scan = uniform_png(10_000, 10_000, 16)
    small = [upload(f"small {i}.jpg", encode(noise(i, (640, 480)), "JPEG"), {200}) for i in range(20)]
    return {
        "a_one_scan": [upload("scan.png", scan, {200, 400}, small=False)],
        "b_four_scans_and_20_small": [
            *(upload(f"scan {i}.png", scan, {200, 400, 429}, small=False) for i in range(4)),
            *small,
        ],
        "c_other_formats": [
            upload("scan.tif", encode(noise(1), "TIFF"), {400}),
            upload("figure.eps", EPS, {400}),
        ],
    }


def measure(port: int, process: psutil.Process, plan: list[Upload]) -> dict[str, Any]:
    """Send every upload of `plan` at once: each answer, and the server's memory while they ran."""
    reset_peak_rss(process.pid)
    before = rss_mb(process)
    with ThreadPoolExecutor(len(plan)) as pool:
        answers = list(pool.map(lambda item: send(port, item), plan))
    peak = peak_rss_mb(process.pid)
    small = [a.seconds for a in answers if a.upload.small]
    return {
        "unexpected": sum(a.status not in a.upload.expected for a in answers),
        "server_rss_mb": {"before": round(before), "peak_growth": peak and round(peak - before)},
        "slowest_small_upload_s": round(max(small), 2) if small else None,
        "answers": [
            {"file": a.upload.name, "status": a.status, "s": round(a.seconds, 2), "body": a.body[:120]}
            for a in answers
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("models/model.keras"))
    parser.add_argument("--threads", type=int, default=4, help="server threads")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)

    plans = phases()
    with serving(args.model, args.threads, args.startup_timeout) as server:
        results = {name: measure(server.port, server.process, plan) for name, plan in plans.items()}
    tracebacks = server.log.count("Traceback")
    print(json.dumps({**results, "tracebacks_in_server_log": tracebacks}, indent=2))
    return 1 if tracebacks or any(result["unexpected"] for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
