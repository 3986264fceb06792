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


def wait_ready(
    conn: OscarConnection,
    timeout: float,
    progress: Callable[[str], None] = lambda _: None,
    poll_max: float = 5.0,
    rerun: str = "oscar-iac up SITE --only platform",
) -> Platform:
    """Poll until OSCAR answers both calls; DeploymentError naming what was awaited and
    for how long (measured: the last try is made at the deadline, not before it).
    `rerun` is the command that tries again (with the site path the user typed)."""
    import requests  # start-up speed: only when a platform is awaited

    session = requests.Session()
    started = time.monotonic()
    deadline = started + timeout
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
                    return Platform(conn.url, backend, body if isinstance(body, dict) else {})
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
        now = time.monotonic()
        if now >= deadline:
            raise DeploymentError(
                f"OSCAR at {conn.url} was not ready after {now - started:.1f} s of waiting "
                f"(limit {timeout:g} s; waited for /health and an authenticated "
                f"/system/config; last: {last})",
                hints=[f"curl -s {conn.url}/health", f"{rerun} --platform-timeout SECONDS"],
            )
        time.sleep(min(delay, deadline - now))
        delay = min(poll_max, delay * 2)
