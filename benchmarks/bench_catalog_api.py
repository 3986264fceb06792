"""`models list` of a 50-module catalog API vs one-by-one requests, at 100 ms per request.

The catalog API test double (tests/doubles/catalog_api_server.py: ai4-papi's routes,
the real samples, plus clones up to 50 modules) adds 100 ms to every request, a model
of a remote API behind a network (printed as such; not a measurement of ai4-papi).
  sequential  GET /modules, then GET /modules/{name}/metadata for each name in turn
              (requests.Session, the same headers): the baseline a simple client is
  ours        catalog_api.load(..., refresh=True): the same requests, concurrent, then
              the cache write and the catalog reader on every module
  cli         `oscar-iac models list --site SITE --refresh` as a process (start-up included)
  cached      the same command again, offline (the double stopped): from the site's cache
  start-up    `oscar-iac version`: what any command costs before it does anything (the CLI
              imports every command's libraries: oscar-python, boto3, minio, IM, ...)
Target: `models list` of 50 modules under 2 s. The in-process figure is the catalog
work; the command's figure adds the CLI's start-up, printed beside it. Each figure is the
best of RUNS runs (the machines are shared; the load average is printed).

Run: .venv/bin/python benchmarks/bench_catalog_api.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "tests")]

from doubles.catalog_api_server import CatalogApiTestServer  # noqa: E402
from oscar_iac.catalog import api as catalog_api  # noqa: E402

LATENCY = 0.1
MODULES = 50
RUNS = 3


def best(fn: Callable[[], object], runs: int = RUNS) -> float:
    """The fastest of `runs` timings (the least disturbed by other load on the machine)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    server = CatalogApiTestServer(latency=LATENCY).start()
    server.clone(MODULES - len(server.module_names()))
    assert len(server.module_names()) == MODULES
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["OSCAR_IAC_STATE"] = str(Path(tmp) / "state")
        session = requests.Session()
        session.headers["Accept"] = "application/json"

        def sequential_run() -> None:
            listed = session.get(f"{server.url}/modules", timeout=30).json()
            for name in listed:
                session.get(f"{server.url}/modules/{name}/metadata", timeout=30).raise_for_status()

        def ours_run() -> None:
            got = catalog_api.load("bench", server.url, None, refresh=True)
            assert len(got.models) == MODULES

        sequential = best(sequential_run)
        ours = best(ours_run)

        site = Path(tmp) / "site"
        site.mkdir()
        (site / "site.yml").write_text(
            (REPO / "inventories" / "egi-example" / "site.yml").read_text()
        )
        env = {**os.environ, "OSCAR_IAC_CATALOG_API": server.url}
        cmd = [str(REPO / ".venv" / "bin" / "oscar-iac"), "models", "list", "--site", str(site)]

        def run(*args: str) -> None:
            subprocess.run([*cmd, *args], env=env, check=True, capture_output=True)

        cli = best(lambda: run("--refresh"))
        server.stop()
        cached = best(run)
        startup = best(
            lambda: subprocess.run([cmd[0], "version"], env=env, check=True, capture_output=True)
        )

    print(f"catalog API double: {MODULES} modules, {LATENCY * 1000:.0f} ms added per request")
    print(f"best of {RUNS} runs each")
    print(f"  sequential requests (baseline)      {sequential:6.2f} s")
    print(f"  catalog_api.load, concurrent        {ours:6.2f} s   ratio {sequential / ours:4.1f}x")
    print(f"  oscar-iac models list --refresh     {cli:6.2f} s")
    print(f"  oscar-iac models list, offline      {cached:6.2f} s   (from the site's cache)")
    print(f"  oscar-iac version (CLI start-up)    {startup:6.2f} s")
    load = os.getloadavg()[0]
    print(f"  load average after the run: {load:.1f} on {os.cpu_count()} CPUs")
    for what, secs in (("in-process", ours), ("command, start-up included", cli)):
        verdict = "met" if secs < 2.0 else "NOT met"
        print(f"  target: models list of {MODULES} modules under 2 s ({what}) -> {verdict}")


if __name__ == "__main__":
    main()
