"""`models apply` vs a plain sequential loop of oscar-python `create_service` calls.

Both register every inference model of the catalog samples on the same OSCAR
contract double (tests/doubles), which adds 50 ms per request to model a real
manager behind a network (the figure is printed; it is a model, not a measurement
of OSCAR). Each side starts from an empty server. Target: ratio >= 4x.

Run: .venv/bin/python benchmarks/bench_models_apply.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "tests")]

from doubles.oscar_server import OscarTestServer  # noqa: E402
from oscar_iac import registry  # noqa: E402
from oscar_iac.catalog import read_folder  # noqa: E402
from oscar_iac.fdl import service_definition  # noqa: E402
from oscar_iac.oscar import OscarConnection  # noqa: E402
from oscar_iac.site import load_site  # noqa: E402

LATENCY = 0.05
CATALOG = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared")) / "catalog"


def main() -> None:
    models = [m for m in read_folder(CATALOG) if m.inference]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["OSCAR_IAC_STATE"] = str(Path(tmp) / "state")
        data = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
        data["catalog"] = {"source": "folder", "location": str(CATALOG)}
        data["models"] = [{"module": m.module, "mode": "async"} for m in models]
        (Path(tmp) / "site.yml").write_text(yaml.safe_dump(data))
        loaded = load_site(Path(tmp))

        base = OscarTestServer(latency=LATENCY).start()
        conn = OscarConnection(base.url, base.username, base.password)
        cl = registry.client(conn)
        t = time.perf_counter()
        for m in models:
            cl.create_service(service_definition(m))
        sequential = time.perf_counter() - t
        base.stop()

        ours = OscarTestServer(latency=LATENCY).start()
        conn = OscarConnection(ours.url, ours.username, ours.password)
        t = time.perf_counter()
        registry.apply(conn, loaded)
        applied = time.perf_counter() - t
        t = time.perf_counter()
        registry.apply(conn, loaded)
        second = time.perf_counter() - t
        ours.stop()
    print(
        f"registering {len(models)} inference models; the OSCAR double adds {LATENCY * 1000:.0f} ms per request"
    )
    print(f"{'sequential oscar-python create_service loop (baseline)':<56}{sequential:>7.2f} s")
    print(f"{'oscar-iac models apply':<56}{applied:>7.2f} s")
    print(f"{'speed-up':<56}{sequential / applied:>7.1f}x   (target >= 4x)")
    print(f"{'second models apply (nothing to change)':<56}{second:>7.2f} s")


if __name__ == "__main__":
    main()
