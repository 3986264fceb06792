"""How long `oscar-iac validate` takes on a big site (50 models, 10 event sources).

Prints, side by side in one run: the minimal `local` site (baseline) and the big
site, both in-process (load + rules + render + IM's translator + RADL check) and as
the real command (a fresh process each time, Python start-up included).
Target: the big site validates in under 2 s. Nothing is asserted.

Run: .venv/bin/python benchmarks/bench_validate.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from oscar_iac.render import render_site  # noqa: E402
from oscar_iac.site import load_site  # noqa: E402

ROUNDS = 5


def big_site(folder: Path) -> Path:
    data = yaml.safe_load((REPO / "inventories" / "egi-example" / "site.yml").read_text())
    data["name"] = "bench"
    data["stack"]["nifi"] = {"enabled": True}
    data["models"] = [
        {
            "module": f"model-{i:02d}",
            "mode": ["sync", "async", "both"][i % 3],
            "overrides": {"memory": "2 GiB", "cpu": 1, "environment": {"I": str(i)}},
        }
        for i in range(50)
    ]
    events = []
    for i in range(10):
        if i % 2:
            events.append(
                {
                    "kind": "minio",
                    "name": f"edge-{i}",
                    "endpoint": "https://edge.example.org",
                    "access_key": "edge",
                    "secret_key": "env:BENCH_SECRET",
                    "bucket": f"bucket-{i}",
                    "service": f"model-{i:02d}",
                }
            )
        else:
            events.append(
                {
                    "kind": "dcache",
                    "name": f"dcache-{i}",
                    "frontend": "https://dcache.example.org:3880",
                    "webdav": "https://dcache.example.org:2880",
                    "path": f"/data/{i}",
                    "credential": "env:BENCH_SECRET",
                    "service": f"model-{i:02d}",
                }
            )
    data["events"] = events
    site = folder / "bench"
    site.mkdir()
    (site / "site.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    return site


def in_process(site: Path) -> float:
    t = time.perf_counter()
    render_site(load_site(site), translate=True)
    return time.perf_counter() - t


def command(site: Path) -> float:
    exe = REPO / ".venv" / "bin" / "oscar-iac"
    t = time.perf_counter()
    subprocess.run([str(exe), "validate", str(site)], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    os.environ["BENCH_SECRET"] = "not-a-real-secret"
    with tempfile.TemporaryDirectory() as tmp:
        big = big_site(Path(tmp))
        base = REPO / "inventories" / "local"
        in_process(base)  # warm imports once, for both
        rows = []
        for label, fn in (("in-process", in_process), ("command", command)):
            b = statistics.median(fn(base) for _ in range(ROUNDS))
            g = statistics.median(fn(big) for _ in range(ROUNDS))
            rows.append((label, b, g))
    print(f"validate, median of {ROUNDS} runs each")
    print(f"{'mode':<12}{'local site (baseline)':>24}{'50 models + 10 events':>24}{'ratio':>8}")
    for label, b, g in rows:
        print(f"{label:<12}{b:>22.3f} s{g:>22.3f} s{g / b:>8.2f}")
    print(f"target: big site under 2 s as a command -> {'met' if rows[1][2] < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
