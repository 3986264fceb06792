"""`oscar-iac up` vs plain `im_client create_wait_outputs`, on the same real IM.

One IM 2.0 server (PyPI `IM`, Dummy cloud) serves both. Each round deploys the
`local` site's TOSCA: once with `oscar-iac up` (a copy of the site pointed at this
IM, a fresh state folder, so it really creates), once with `im_client
create_wait_outputs` on the same document; both destroy afterwards.
Also measured: how long after IM first reports `configured` the tool notices it
(a side thread polls IM every 20 ms to timestamp that moment).
Targets: ratio <= 1.2, notice <= 1 s. Nothing is asserted.

Run: .venv/bin/python benchmarks/bench_up.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from oscar_iac.im import lifecycle  # noqa: E402
from oscar_iac.im.server import EmbeddedIM  # noqa: E402
from oscar_iac.render import render_site, with_inputs  # noqa: E402
from oscar_iac.site import load_site  # noqa: E402

ROUNDS = 5


def site_on(im_url: str, folder: Path) -> Path:
    site = folder / "local"
    shutil.copytree(REPO / "inventories" / "local", site)
    data = yaml.safe_load((site / "site.yml").read_text())
    data["target"]["endpoint"] = im_url
    (site / "site.yml").write_text(yaml.safe_dump(data))
    return site


def first_configured(url: str, auth: str, stop: threading.Event, seen: dict[str, float]) -> None:
    headers = {"Authorization": auth, "Accept": "application/json"}
    while not stop.is_set():
        try:
            for u in requests.get(f"{url}/infrastructures", headers=headers, timeout=2).json()[
                "uri-list"
            ]:
                inf = u["uri"].rsplit("/", 1)[-1]
                if inf not in seen:
                    st = requests.get(f"{u['uri']}/state", headers=headers, timeout=2).json()
                    if st["state"]["state"] == "configured":
                        seen[inf] = time.perf_counter()
        except (requests.RequestException, KeyError, ValueError):
            pass
        time.sleep(0.02)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-up-"))
    try:
        with EmbeddedIM(tmp / "im") as im:
            ours, plain, notice = [], [], []
            for i in range(ROUNDS):
                os.environ["OSCAR_IAC_STATE"] = str(tmp / f"state-{i}")
                site = site_on(im.url, tmp / f"round-{i}")
                loaded = load_site(site)
                seen: dict[str, float] = {}
                stop = threading.Event()
                noticed: dict[str, float] = {}

                def on_event(msg: str, noticed: dict[str, float] = noticed) -> None:
                    if msg.endswith(" is configured"):
                        noticed[msg.split()[1]] = time.perf_counter()

                # our run; the watcher uses the same IM user as the tool
                with lifecycle.connect(loaded) as conn:
                    auth = conn.client.auth_header()
                watcher = threading.Thread(target=first_configured, args=(im.url, auth, stop, seen))
                watcher.start()
                t = time.perf_counter()
                res = lifecycle.up(loaded, quiet=True, on_event=on_event)
                ours.append(time.perf_counter() - t)
                stop.set()
                watcher.join()
                inf = res.deployment.inf_id or ""
                if inf in seen and inf in noticed:
                    notice.append(noticed[inf] - seen[inf])
                lifecycle.down(loaded)

                # plain im_client on the same document (secrets filled the same way)
                doc = with_inputs(
                    render_site(loaded).tosca,
                    {"oscar_password": "bench", "minio_secret_key": "bench"},
                )
                work = tmp / f"plain-{i}"
                work.mkdir()
                (work / "cluster.yaml").write_text(doc)
                authfile = work / "auth.dat"
                authfile.write_text(auth.replace("\\n", "\n") + "\n")
                authfile.chmod(0o600)
                t = time.perf_counter()
                out = subprocess.run(
                    [
                        str(REPO / ".venv" / "bin" / "im_client"),
                        "-r",
                        im.url,
                        "-a",
                        str(authfile),
                        "create_wait_outputs",
                        str(work / "cluster.yaml"),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=work,
                )
                plain.append(time.perf_counter() - t)
                inf_plain = yaml.safe_load(out.stdout.strip().splitlines()[-1])["infid"]
                requests.delete(
                    f"{im.url}/infrastructures/{inf_plain}",
                    headers={"Authorization": auth},
                    timeout=60,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    o, p = statistics.median(ours), statistics.median(plain)
    print(f"up -> outputs on one real IM (Dummy cloud), median of {ROUNDS} rounds")
    print(f"{'im_client create_wait_outputs (baseline)':<44}{p:>8.2f} s")
    print(f"{'oscar-iac up':<44}{o:>8.2f} s")
    print(f"{'ratio oscar-iac / im_client':<44}{o / p:>8.2f}   (target <= 1.2)")
    if notice:
        print(
            f"{'noticed configured after IM reported it':<44}{statistics.median(notice):>8.2f} s "
            f"median, {max(notice):.2f} s max   (target <= 1 s)"
        )


if __name__ == "__main__":
    main()
