"""`models apply` of 50 catalog models vs a sequential oscar-python loop, on the REAL OSCAR.

Starts what `pytest -m real_oscar` starts (tests/components: a Kubernetes v1.37.2 control
plane, MinIO, the OSCAR chart 4.1.2 installed with the values roles/oscar renders, the
OSCAR manager v4.1.2 built from source, run as the chart's ServiceAccount), then, in one run:

1. sequential: one oscar-python `create_service` per model, one after the other (what a
   user's loop does), then the services are deleted again;
2. ours: `registry.apply` (what `oscar-iac models apply` runs) of the same 50 models.

Both register 50 services made from the catalog's inference models (copied under 50
numbered module ids): models apply under the modules' service names, the loop under
`qNN-<name>`. After each side, every one of the 50 must be listed by OSCAR and have its
ConfigMap in the API server. What bounds the speed is OSCAR itself: every create of a
service with a MinIO input registers a webhook and restarts MinIO, then sleeps 6 s
(grycap/oscar v4.1.2 pkg/utils/minio.go RestartServer: `time.Sleep(6 * time.Second)`),
with no lock around it (pkg/handlers/create.go), so concurrent creates overlap their
waits. The last line: `real-oscar models=50 ours_s=.. sequential_s=.. ratio=..`.

Run: .venv/bin/python benchmarks/bench_models_apply.py   (as root: unshare -m; ~8 min)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "tests")]

from components.kube_fixture import start_cluster  # noqa: E402
from components.real_oscar import RealOscar, start_real_oscar, stop_real_oscar  # noqa: E402
from oscar_iac import registry  # noqa: E402
from oscar_iac.catalog import read_folder  # noqa: E402
from oscar_iac.oscar import OscarConnection  # noqa: E402
from oscar_iac.site import load_site  # noqa: E402

COUNT = 50
CATALOG = Path(os.environ.get("OSCAR_IAC_SHARED", REPO.parent / "shared")) / "catalog"


def registered(oscar: RealOscar, names: list[str]) -> list[str]:
    """Which of `names` OSCAR lists and has a ConfigMap for (both must hold)."""
    status, listed = oscar.request("GET", "/system/services")
    assert status == 200, listed
    have = {s["name"] for s in listed}
    maps = oscar.kube.get("configmaps", namespace=oscar.services_namespace)
    cms = {m["metadata"]["name"] for m in maps["items"]}
    return [n for n in names if n in have and n in cms]


def main() -> None:
    # SIGTERM unwinds like an error: the finally blocks stop everything started, by pid.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="oscar-iac-bench-"))
    try:
        # 50 catalog modules: the inference samples of ../shared/catalog, copied under
        # numbered module ids (a site lists each module once).
        samples = [m for m in read_folder(CATALOG) if m.inference]
        catalog = work / "catalog"
        for i in range(COUNT):
            src = samples[i % len(samples)]
            folder = catalog / f"{src.module}-b{i:02d}"
            shutil.copytree(src.source if src.source.is_dir() else src.source.parent, folder)
        models = read_folder(catalog)
        assert len(models) == COUNT and all(m.inference for m in models)
        os.environ["OSCAR_IAC_STATE"] = str(work / "state")
        data = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
        data["catalog"] = {"source": "folder", "location": str(catalog)}
        data["models"] = [{"module": m.module, "mode": "async"} for m in models]
        (work / "site").mkdir()
        (work / "site" / "site.yml").write_text(yaml.safe_dump(data))
        loaded = load_site(work / "site")
        definitions = registry.desired(loaded)
        names = sorted(definitions)
        assert len(names) == COUNT
        # The sequential loop registers the same definitions under q<NN>- names: both sets
        # live side by side (no deletes in between: each costs OSCAR a MinIO restart).
        seq_names = {n: f"q{i:02d}-{n}"[:39].rstrip("-") for i, n in enumerate(names)}

        print("starting the real control plane and OSCAR (tests/components) ...", flush=True)
        t = time.perf_counter()
        kube = start_cluster(work / "kube")
        try:
            oscar = start_real_oscar(kube, work / "oscar")
            try:
                print(f"  up in {time.perf_counter() - t:.0f} s", flush=True)
                conn = OscarConnection(oscar.endpoint, oscar.username, oscar.password)
                cl = registry.client(conn)

                print(f"sequential: {COUNT} oscar-python create_service calls ...", flush=True)
                t = time.perf_counter()
                for n in names:
                    # The same definition under the seq- name (its bucket paths too).
                    text = json.dumps(definitions[n]).replace(f'"{n}', f'"{seq_names[n]}')
                    seq = json.loads(text)
                    # Not this site's: models apply must neither count nor delete them.
                    seq["labels"][registry.SITE_LABEL] = "bench-sequential"
                    cl.create_service(seq)
                sequential = time.perf_counter() - t
                ok = registered(oscar, list(seq_names.values()))
                assert len(ok) == COUNT, f"sequential: only {len(ok)} of {COUNT} registered"
                print(f"  {sequential:.1f} s", flush=True)

                print(f"ours: models apply of {COUNT} models ...", flush=True)
                t = time.perf_counter()
                changes = registry.apply(conn, loaded)
                ours = time.perf_counter() - t
                assert sorted(c.service for c in changes if c.action == "create") == sorted(names)
                ok = registered(oscar, names)
                assert len(ok) == COUNT, f"models apply: only {len(ok)} of {COUNT} registered"
                t = time.perf_counter()
                again = registry.apply(conn, loaded)
                second = time.perf_counter() - t
                assert {c.action for c in again} == {"unchanged"}
            finally:
                stop_real_oscar(oscar)
        finally:
            kube.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'sequential oscar-python create_service loop (baseline)':<56}{sequential:>8.2f} s")
    print(f"{'oscar-iac models apply':<56}{ours:>8.2f} s")
    print(f"{'second models apply (nothing to change)':<56}{second:>8.2f} s")
    print(
        f"real-oscar models={COUNT} ours_s={ours:.2f} sequential_s={sequential:.2f} "
        f"ratio={sequential / ours:.1f}"
    )


if __name__ == "__main__":
    main()
