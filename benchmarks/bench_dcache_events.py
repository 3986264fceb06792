"""dCache events relay: 10,000 uploads announced by the dCache events test server, relayed
by the listener (its own process, OSCAR sink) to the OSCAR double answering in 20 ms.

Runs (each from a fresh server pair):
  baseline  1,000 uploads, one POST at a time (concurrency 1: what a relay that waits for
            each /job answer before the next, like a single-threaded InvokeHTTP, achieves)
  clean     10,000 uploads, the default sink (16 concurrent POSTs)
  sigkill   10,000 uploads, the listener SIGKILLed when half of them reached /job and
            started again at once (systemd's Restart= would do the same)
Uploads are announced at a steady pace (PACE per second, like a busy instrument); latency
is from the announcement to OSCAR's acceptance of the first /job for that file (it
includes the double's 20 ms, a model of a networked manager, not a measurement of OSCAR).
rate_per_s = uploads / (last first-arrival - first announcement).

The last line sums both 10,000-upload runs (events, lost, duplicates) and gives the worse
p95 and rate of the two. Targets: lost=0, p95 < 1000 ms, >= 300 events/s.

Run: .venv/bin/python benchmarks/bench_dcache_events.py [--events N] [--pace P]
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "tests")]

from dcache.support import LISTENER, add_service, listener_config, wait_for  # noqa: E402
from doubles.dcache_server import DcacheEventsServer  # noqa: E402
from doubles.oscar_server import OscarTestServer  # noqa: E402

LATENCY = 0.02


@dataclass
class Result:
    name: str
    events: int
    lost: int
    duplicates: int
    p95_ms: float
    p50_ms: float
    rate: float
    seconds: float

    def line(self) -> str:
        return (
            f"events={self.events} lost={self.lost} duplicates={self.duplicates} "
            f"p95_ms={self.p95_ms:.0f} rate_per_s={self.rate:.0f}"
        )


def run(name: str, n: int, pace: float, concurrency: int, kill_at: float | None) -> Result:
    arrivals: dict[str, list[float]] = collections.defaultdict(list)
    lock = threading.Lock()

    def record(svc: dict[str, Any], body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        now = time.monotonic()
        path = json.loads(body)["path"]
        with lock:
            arrivals[path].append(now)
        return 201, b""

    dcache = DcacheEventsServer().start()
    dcache.makedirs("/data/in")
    oscar = OscarTestServer(latency=LATENCY).start()
    token = add_service(oscar)
    announced: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sink = {
            "kind": "oscar",
            "url": f"{oscar.url}/job/dcache-svc",
            "token_env": "OSCAR_TOKEN",
            "concurrency": concurrency,
        }
        config, env = listener_config(Path(tmp), dcache, sink, ["/data/in"])
        env["OSCAR_TOKEN"] = token
        log = open(Path(tmp) / "listener.log", "wb")  # noqa: SIM115

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, str(LISTENER), "--config", str(config)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        proc = start()
        wait_for("the listener to watch /data/in", lambda: "/data/in" in dcache.watched(), 60)
        wait_for("the listener connected", lambda: dcache.connected() == 1, 60)
        names = [f"/data/in/{name}-{i:05d}.csv" for i in range(n)]
        oscar.executor = record  # the double runs it for every accepted /job
        start_t = time.monotonic()

        def produce() -> None:
            for i, p in enumerate(names):
                due = start_t + i / pace
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                announced[p] = time.monotonic()
                dcache.upload(p)

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        if kill_at is not None:
            wait_for(
                f"{int(n * kill_at)} uploads at /job before the kill",
                lambda: len(arrivals) >= n * kill_at,
                600,
            )
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = start()
        producer.join()
        wait_for(
            f"all {n} uploads at /job",
            lambda: all(p in arrivals for p in names),
            max(120, n / 20),
        )
        end_t = max(arrivals[p][0] for p in names)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    oscar.stop()
    dcache.stop()
    lat = sorted((arrivals[p][0] - announced[p]) * 1000 for p in names if p in arrivals)
    lost = sum(1 for p in names if p not in arrivals)
    dups = sum(len(v) - 1 for v in arrivals.values())
    p95 = lat[int(len(lat) * 0.95) - 1] if lat else float("nan")
    return Result(
        name, n, lost, dups, p95, statistics.median(lat), n / (end_t - start_t), end_t - start_t
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--pace", type=float, default=400.0, help="uploads announced per second")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent POSTs of the sink")
    args = ap.parse_args()
    base = run("baseline", max(100, args.events // 10), args.pace, 1, None)
    clean = run("clean", args.events, args.pace, args.concurrency, None)
    killed = run("sigkill", args.events, args.pace, args.concurrency, 0.5)
    print(
        f"OSCAR double latency per request: {LATENCY * 1000:.0f} ms; uploads paced at {args.pace:.0f}/s"
    )
    print(
        f"{'run':<10}{'events':>8}{'lost':>6}{'dups':>6}{'p50 ms':>9}{'p95 ms':>9}{'rate/s':>9}{'vs baseline':>13}"
    )
    for r in (base, clean, killed):
        print(
            f"{r.name:<10}{r.events:>8}{r.lost:>6}{r.duplicates:>6}{r.p50_ms:>9.0f}{r.p95_ms:>9.0f}"
            f"{r.rate:>9.0f}{r.rate / base.rate:>12.1f}x"
        )
    for r in (clean, killed):
        print(f"{r.name}: {r.line()}")
    print(
        f"events={clean.events + killed.events} lost={clean.lost + killed.lost} "
        f"duplicates={clean.duplicates + killed.duplicates} "
        f"p95_ms={max(clean.p95_ms, killed.p95_ms):.0f} rate_per_s={min(clean.rate, killed.rate):.0f}"
    )


if __name__ == "__main__":
    main()
