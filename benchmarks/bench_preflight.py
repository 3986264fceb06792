"""`preflight` API requests and time on a project with 200 flavours and 500 images.

Preflight asks each service once: flavours with their extra specs in one listing (Nova
microversion 2.61), the image by id, limits and quota details once each. The baseline is
the per-item pattern IM 2.0's OpenStack connector uses to pick a flavour
(`get_list_sizes_details`: list, then one os-extra_specs call per flavour) plus finding the
image in Glance's default pages of 25; it runs with the same openstacksdk session against
the same double, after the same authentication.

The double (tests/doubles/openstack_server.py) adds LATENCY seconds per request to model a
cloud behind a network (printed; a model, not a measurement of any site). Both sides are
timed 3 times; the median is printed.

Run: .venv/bin/python benchmarks/bench_preflight.py
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tools"), str(REPO / "tests")]

from doubles.openstack_server import OpenStackDouble, standard_cloud  # noqa: E402
from oscar_iac.preflight import connect as cx  # noqa: E402
from oscar_iac.preflight import openstack as po  # noqa: E402
from oscar_iac.site import load_site  # noqa: E402
from oscar_iac.site.load import LoadedSite  # noqa: E402

FLAVOURS, IMAGES = 200, 500
LATENCIES = (0.0, 0.02)
MEMBER = "urn:mace:egi.eu:group:vo.access.egi.eu:role=member#aai.egi.eu"


def token() -> str:
    def enc(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"exp": int(time.time()) + 3600, "eduperson_entitlement": [MEMBER]}
    return f"{enc({'alg': 'RS256'})}.{enc(claims)}.c2ln"


def preflight(loaded: LoadedSite) -> None:
    report = po.run(loaded)
    assert report.verdict == "ready", report.summary()


def baseline(loaded: LoadedSite) -> None:
    """Same authentication, then the per-flavour / per-page pattern."""
    site = po._connect(loaded, None, cx.Http(), None)
    conn = site.conn
    for f in conn.compute.flavors(details=True):
        conn.compute.fetch_flavor_extra_specs(f)
    name = "Image for EGI Ubuntu 22.04 [Ubuntu/22.04/VirtualBox]"
    assert any(i.name == name for i in conn.image.images())  # Glance's default pages
    conn.compute.get_limits()
    conn.block_storage.get_limits()
    conn.network.get_quota(site.scoped.project_id, details=True)
    assert list(conn.network.networks(is_router_external=True))


def measure(
    double: OpenStackDouble, fn: Callable[[LoadedSite], None], loaded: LoadedSite
) -> tuple[int, float]:
    times, calls = [], 0
    for _ in range(3):
        double.reset_calls()
        t = time.perf_counter()
        fn(loaded)
        times.append(time.perf_counter() - t)
        calls = len(double.calls)
    assert double.failures == [], double.failures
    return calls, statistics.median(times)


def main() -> None:
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["OSCAR_IAC_STATE"] = str(Path(tmp) / "state")
        os.environ["EGI_ACCESS_TOKEN"] = token()
        loaded = load_site(REPO / "inventories" / "egi-example")
        print(f"project with {FLAVOURS} flavours (+7 standard) and {IMAGES} images (+2)")
        print(f"{'latency/request':>16} {'':>10} {'requests':>9} {'seconds':>8}")
        for latency in LATENCIES:
            double = OpenStackDouble(standard_cloud(FLAVOURS, IMAGES), latency=latency).start()
            os.environ[cx.CLOUDINFO_ENV] = double.cloudinfo_url
            try:
                measure(double, preflight, loaded)  # warm imports and version discovery code
                p_calls, p_time = measure(double, preflight, loaded)
                b_calls, b_time = measure(double, baseline, loaded)
            finally:
                double.stop()
            label = f"{latency * 1000:.0f} ms"
            print(f"{label:>16} {'preflight':>10} {p_calls:>9} {p_time:>8.3f}")
            print(f"{'':>16} {'baseline':>10} {b_calls:>9} {b_time:>8.3f}")
            print(
                f"{'':>16} {'ratio':>10} {b_calls / p_calls:>8.1f}x {b_time / p_time:>7.1f}x"
                "  (baseline / preflight)"
            )


if __name__ == "__main__":
    main()
