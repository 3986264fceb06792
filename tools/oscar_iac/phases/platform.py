"""Platform ready: OSCAR's /health answers and /system/config accepts the site's credentials.

OSCAR's REST contract (shared/specs/oscar-swagger-v4.1.2.yaml): `GET /health` is public
and answers 200 "Ok"; `GET /system/config` needs Basic auth (or an OIDC bearer token)
and answers `types.ConfigForUser` (`config.serverless_backend` is "knative" when
synchronous /run calls are served).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.oscar import OscarConnection


@dataclass(frozen=True)
class Platform:
    url: str
    serverless_backend: str  # "knative" when /run is served, else "" (unknown/none)
    config: dict[str, Any]
    # What GET /system/status says is wrong with the cluster ("" when it answers 200).
    cluster_problem: str = ""


def cluster_problem(conn: OscarConnection, session: Any) -> str:
    """Ask OSCAR's GET /system/status (swagger v4.1.2: Basic auth, `types.StatusInfo`);
    "" when it answers 200, else what is wrong, said so an operator can fix it.

    OSCAR v4.1.2 pkg/handlers/status.go MakeStatusHandler answers 500
    `{"error": "Error getting node info: ..."}` when its ServiceAccount may not list nodes
    (getNodesInfo: CoreV1().Nodes().List) and `"Error getting metrics info: ..."` when the
    metrics API (metrics.k8s.io, k3s' metrics-server) is not served or not allowed
    (getMetricsInfo: NodeMetricses().List). Chart 4.1.2 grants neither (its ClusterRole
    oscar-controller-global has no `nodes`); roles/oscar adds them (templates/rbac.yaml.j2)."""
    import requests

    try:
        res = session.get(
            f"{conn.url}/system/status",
            headers={"Authorization": conn.auth_header()},
            timeout=30,
            verify=conn.verify_tls,
        )
    except requests.RequestException as exc:
        return f"GET /system/status failed: {type(exc).__name__}"
    if res.status_code == 200:
        return ""
    try:
        body = res.json()
        detail = str(body.get("error") or body) if isinstance(body, dict) else str(body)
    except ValueError:
        detail = res.text.strip()
    detail = detail[:300]
    what = f"GET /system/status answered {res.status_code}: {detail}"
    if "forbidden" in detail and "nodes" in detail:
        return (
            f"{what} — OSCAR's ServiceAccount may not list nodes (chart 4.1.2's ClusterRole "
            "grants no `nodes`); the oscar role adds the rule (ClusterRole "
            "oscar-iac-oscar-nodes: list on nodes and nodes.metrics.k8s.io)"
        )
    if "metrics" in detail:
        return f"{what} — the metrics API (metrics.k8s.io, k3s' metrics-server) is not served"
    return what


def wait_ready(
    conn: OscarConnection,
    timeout: float,
    progress: Callable[[str], None] = lambda _: None,
    poll_max: float = 5.0,
) -> Platform:
    """Poll until OSCAR answers both calls; DeploymentError naming what was awaited."""
    import requests

    session = requests.Session()
    deadline = time.monotonic() + timeout
    delay = 0.2
    last = "no answer yet"
    while True:
        progress(f"waiting for OSCAR at {conn.url}: {last}")
        try:
            health = session.get(f"{conn.url}/health", timeout=10, verify=conn.verify_tls)
            if health.status_code != 200:
                last = f"/health answered {health.status_code}"
            else:
                cfg = session.get(
                    f"{conn.url}/system/config",
                    headers={"Authorization": conn.auth_header()},
                    timeout=10,
                    verify=conn.verify_tls,
                )
                if cfg.status_code in (401, 403):
                    raise UserError(
                        Problem(
                            conn.url,
                            "credentials",
                            f"OSCAR refused the site's credentials for user '{conn.username}' "
                            f"(HTTP {cfg.status_code} on /system/config)",
                        )
                    )
                if cfg.status_code == 200:
                    body = cfg.json()
                    config = body.get("config") or {} if isinstance(body, dict) else {}
                    backend = str(config.get("serverless_backend") or "")
                    return Platform(
                        conn.url,
                        backend,
                        body if isinstance(body, dict) else {},
                        cluster_problem(conn, session),
                    )
                last = f"/system/config answered {cfg.status_code}"
        except requests.exceptions.SSLError as exc:
            raise DeploymentError(
                f"TLS verification of {conn.url} failed: {exc}",
                hints=["install the cluster's CA in the system store (verification stays on)"],
            ) from exc
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}"
        except ValueError:
            last = "/system/config answered something that is not JSON"
        if time.monotonic() + delay > deadline:
            raise DeploymentError(
                f"OSCAR at {conn.url} was not ready within {timeout:.0f} s (waited for /health "
                f"and an authenticated /system/config; last: {last})",
                hints=[f"curl -s {conn.url}/health", "oscar-iac up SITE --only platform"],
            )
        time.sleep(delay)
        delay = min(poll_max, delay * 2)
