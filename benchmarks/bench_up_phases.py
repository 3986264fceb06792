"""`oscar-iac up` (phases) vs the same steps as separate commands, and start-up times.

Part 1 — an existing OSCAR (target kind `oscar`) with 20 models and 5 MinIO event
sources: `oscar-iac up SITE --skip smoke` against `oscar-iac models apply SITE` then
`oscar-iac events apply SITE`, each started as a new process, from a clean cluster
each time (everything is removed between runs). OSCAR is the contract double
(tests/doubles) adding 50 ms per request to model a manager behind a network (a
model, not a measurement of OSCAR); MinIO is the real server (its webhook targets
need a MinIO restart per source, on both sides). The smoke test is left out of both
(it is one model call, the same on both sides).

Part 2 — start-up of the commands a new user types, as ratios against
`python -c pass` started the same way (median of N runs, .pyc files written as on a
normal install): `--help`, `status` and `outputs` on the embedded site, `up` on the
unchanged embedded site. Targets: --help < 0.5 s, status/outputs < 1.5 s, up < 3 s.
Wall time and CPU time (user + sys of the command) are both printed: on a machine
shared with other work the wall time grows with the load, the CPU time much less.
`status` and `up` also wait on the embedded IM (another process): their CPU time
leaves out IM's share.
With --load, two `yes > /dev/null` processes keep the CPUs busy meanwhile.

Run: .venv/bin/python benchmarks/bench_up_phases.py [--load] [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "tests")]

from components.minio_fixture import start_minio, stop_minio  # noqa: E402
from doubles.oscar_server import OscarTestServer  # noqa: E402

LATENCY = 0.05
MODELS = 20
SOURCES = 5
DEMO = REPO / "tests" / "images" / "runner" / "catalog" / "oscar-iac-demo-model"
PY = str(REPO / ".venv" / "bin" / "python")
CLI = [PY, "-m", "oscar_iac"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **extra}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


CPU: list[float] = []  # CPU seconds (user + sys) of each _run, in order


def _run(args: list[str], env: dict[str, str]) -> float:
    c = _children_cpu()
    t = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    CPU.append(_children_cpu() - c)
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return took


@contextlib.contextmanager
def _load(on: bool) -> Iterator[None]:
    procs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(2)] if on else []
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def part1(tmp: Path, runs: int) -> None:
    catalog = tmp / "catalog"
    for i in range(MODELS):
        shutil.copytree(DEMO, catalog / f"bench-model-{i:02d}")
    minio = start_minio(tmp / "minio")
    oscar = OscarTestServer(latency=LATENCY).start()
    try:
        client = minio.client()
        buckets = [f"bench-events-{i}" for i in range(SOURCES)]
        for b in buckets:
            client.make_bucket(b)
        site = tmp / "bench"
        site.mkdir()
        doc = {
            "name": "bench",
            "target": {
                "kind": "oscar",
                "endpoint": oscar.url,
                "username": oscar.username,
                "password": "env:BENCH_OSCAR_PASSWORD",
            },
            "catalog": {"source": "folder", "location": str(catalog)},
            "models": [{"module": f"bench-model-{i:02d}", "mode": "async"} for i in range(MODELS)],
            "events": [
                {
                    "kind": "minio",
                    "name": f"src{i}",
                    "endpoint": minio.url,
                    "access_key": minio.access_key,
                    "secret_key": "env:BENCH_MINIO_SECRET",
                    "bucket": buckets[i],
                    "service": f"bench-model-{i:02d}",
                }
                for i in range(SOURCES)
            ],
        }
        (site / "site.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
        env = _env(
            OSCAR_IAC_STATE=str(tmp / "state"),
            BENCH_OSCAR_PASSWORD=oscar.password,
            BENCH_MINIO_SECRET=minio.secret_key,
        )
        s = str(site)
        ups, separate = [], []
        for _ in range(runs):
            ups.append(_run([*CLI, "up", s, "--skip", "smoke", "-q"], env))
            assert len(oscar.services) == MODELS
            _run([*CLI, "down", s, "--yes"], env)
            assert not oscar.services
            t = _run([*CLI, "models", "apply", s], env)
            t += _run([*CLI, "events", "apply", s], env)
            separate.append(t)
            assert len(oscar.services) == MODELS
            _run([*CLI, "events", "remove", s], env)
            _run([*CLI, "models", "remove", s], env)
            assert not oscar.services
        u, p = statistics.median(ups), statistics.median(separate)
        print(f"part 1: existing OSCAR, {MODELS} models, {SOURCES} MinIO event sources")
        print(f"  OSCAR double latency per request       {LATENCY * 1000:.0f} ms (a model)")
        print(f"  oscar-iac up --skip smoke              {u:8.2f} s  (median of {runs})")
        print(f"  models apply + events apply (baseline) {p:8.2f} s  (median of {runs})")
        print(f"  ratio up / separate commands           {u / p:8.2f}")
    finally:
        oscar.stop()
        stop_minio(minio)


def part2(tmp: Path, runs: int, load: bool) -> None:
    site = tmp / "local"
    shutil.copytree(REPO / "inventories" / "local", site)
    env = _env(OSCAR_IAC_STATE=str(tmp / "state2"))
    s = str(site)
    _run([*CLI, "up", s, "-q"], env)  # create once (and write .pyc files)
    cases = {
        "--help": [*CLI, "--help"],
        "status (embedded)": [*CLI, "status", s],
        "outputs (embedded)": [*CLI, "outputs", s],
        "up, unchanged (embedded)": [*CLI, "up", s, "-q"],
    }
    targets = {"--help": 0.5, "status (embedded)": 1.5, "outputs (embedded)": 1.5}
    targets["up, unchanged (embedded)"] = 3.0
    console_script = str(REPO / ".venv" / "bin" / "oscar-iac")
    for args in cases.values():
        _run(args, env)  # warm

    def measure(args: list[str]) -> tuple[float, float]:
        walls = [_run(args, env) for _ in range(runs)]
        return statistics.median(walls), statistics.median(CPU[-runs:])

    with _load(load):
        base, base_cpu = measure([PY, "-c", "pass"])
        print(f"part 2: start-up, median of {runs}{', CPUs kept busy (2x yes)' if load else ''}")
        print(f"  load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
        print(f"  {'command':<34} {'wall':>8}   {'ratio':>6} {'CPU':>8}  target (wall)")
        print(f"  {'python -c pass (baseline)':<34} {base:8.3f} s {1:6.1f}x {base_cpu:6.3f} s")
        for label, args in cases.items():
            took, cpu = measure(args)
            verdict = "met" if took < targets[label] else "NOT met"
            print(
                f"  {label:<34} {took:8.3f} s {took / base:6.1f}x {cpu:6.3f} s  "
                f"< {targets[label]:g} s: {verdict}"
            )
        took, cpu = measure([console_script, "--help"])
        label = "oscar-iac --help (console script)"
        print(f"  {label:<34} {took:8.3f} s {took / base:6.1f}x {cpu:6.3f} s")
    _run([*CLI, "down", s, "--yes"], env)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", action="store_true", help="keep two CPUs busy in part 2")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--part", choices=["1", "2", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-up-phases-") as tmp:
        if args.part in ("1", "both"):
            part1(Path(tmp), max(1, args.runs // 2))
        if args.part in ("2", "both"):
            part2(Path(tmp), args.runs, args.load)


if __name__ == "__main__":
    main()
