"""The light relay: the dCache listener posting straight to OSCAR's /job/<service>.

`oscar-iac events relay SITE` runs one listener per dCache source with `via: relay`, in
the foreground, until Ctrl-C/SIGTERM. Secrets never reach a command line: `env:` and
`file:` references are handed to the listener as the same variable or file, other
references (vault) and the OSCAR service token (read from OSCAR with the site's admin
credentials) are put in this process' own environment under private names.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from oscar_iac.dcache import listener
from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.events.oscar_service import service_token
from oscar_iac.oscar import OscarConnection
from oscar_iac.secrets import SecretError, SecretResolver
from oscar_iac.site.load import LoadedSite
from oscar_iac.site.model import DcacheEventSource
from oscar_iac.state import site_state_dir


@dataclass(frozen=True)
class RelaySource:
    index: int
    source: DcacheEventSource


def relay_sources(loaded: LoadedSite, only: str | None = None) -> list[RelaySource]:
    """The site's dCache sources with `via: relay` (or the one named `only`)."""
    found = [
        RelaySource(i, e)
        for i, e in enumerate(loaded.site.events)
        if isinstance(e, DcacheEventSource) and (only is None or e.name == only)
    ]
    if only is not None and not found:
        names = [e.name for e in loaded.site.events if isinstance(e, DcacheEventSource)]
        raise UserError(
            Problem(
                loaded.path,
                "events",
                f"no dcache event source named '{only}' (have: {', '.join(names) or 'none'})",
            )
        )
    for r in found:
        if r.source.via != "relay" and only is not None:
            raise UserError(
                Problem(
                    loaded.path,
                    f"events[{r.index}].via",
                    f"source '{only}' is delivered by NiFi (via: nifi); expected via: relay "
                    "for `events relay`",
                    loaded.line(("events", r.index)),
                )
            )
    return [r for r in found if r.source.via == "relay"]


def _env_name(source: str, what: str) -> str:
    return f"OSCAR_IAC_DCACHE_{source.upper().replace('-', '_')}_{what}"


def _secret_keys(
    loaded: LoadedSite, r: RelaySource, prefix: str, env_key: str, file_key: str
) -> dict[str, str]:
    """Config keys naming where the listener reads the source's credential."""
    ref = r.source.credential
    resolver = SecretResolver(loaded.directory, site_state_dir(loaded.site.name))
    try:
        resolver.check(ref)
        if ref.scheme == "env":
            return {env_key: ref.target}
        if ref.scheme == "file":
            path = Path(os.path.expanduser(ref.target))
            return {file_key: str(path if path.is_absolute() else loaded.directory / path)}
        name = _env_name(r.source.name, prefix)
        os.environ[name] = resolver.resolve(ref, f"events-{r.source.name}-credential")
        return {env_key: name}
    except SecretError as e:
        raise UserError(
            Problem(
                loaded.path,
                f"events[{r.index}].credential",
                str(e),
                loaded.line(("events", r.index, "credential")),
            )
        ) from e


def listener_config(loaded: LoadedSite, r: RelaySource, oscar: OscarConnection) -> dict[str, Any]:
    """The listener's config for one source (secrets by reference only)."""
    src = r.source
    if src.auth == "basic":
        auth: dict[str, Any] = {"kind": "basic", "username": src.username}
        auth |= _secret_keys(loaded, r, "PASSWORD", "password_env", "password_file")
    else:  # OIDC access tokens and macaroons are both sent as `Authorization: Bearer`
        auth = {"kind": "oidc"} | _secret_keys(loaded, r, "TOKEN", "token_env", "token_file")
    token_env = _env_name(src.name, "OSCAR_TOKEN")
    os.environ[token_env] = service_token(oscar, src.service, field=f"events[{r.index}].service")
    state = site_state_dir(loaded.site.name) / "dcache-relay"
    return {
        "endpoint": str(src.frontend).rstrip("/") + "/api/v1",
        "paths": [src.path.rstrip("/") or "/"],
        "recursive": src.recursive,
        "checkpoint": str(state / f"{src.name}.checkpoint.json"),
        "auth": auth,
        "verify_tls": src.verify_tls,
        "ca_bundle": None,
        "source": src.name,
        "client_id": f"oscar-iac-{loaded.site.name}-{src.name}",
        "webdav": str(src.webdav).rstrip("/"),
        "sink": {
            "kind": "oscar",
            "url": f"{oscar.url}/job/{src.service}",
            "token_env": token_env,
            "verify_tls": oscar.verify_tls,
        },
    }


def run(loaded: LoadedSite, oscar: OscarConnection, only: str | None = None) -> int:
    """Relay every `via: relay` source until SIGINT/SIGTERM; the worst exit code."""
    sources = relay_sources(loaded, only)
    if not sources:
        raise UserError(
            Problem(loaded.path, "events", "no dcache event source with via: relay in this site")
        )
    listeners: list[listener.Listener] = []
    for r in sources:
        cfg = listener_config(loaded, r, oscar)
        try:
            listeners.append(listener.Listener(listener.parse_config(cfg, f"events[{r.index}]")))
        except listener.ConfigError as e:
            raise UserError(
                Problem(loaded.path, f"events[{r.index}]", str(e), loaded.line(("events", r.index)))
            ) from e
    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    listener.LOG.setLevel(logging.INFO)
    codes: dict[int, int] = {}

    def stop(signum: int, frame: FrameType | None) -> None:
        for item in listeners:
            item.stop()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    threads = [
        threading.Thread(target=lambda i=i, item=item: codes.__setitem__(i, item.run()))
        for i, item in enumerate(listeners)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)
                # One source failing for good stops none of the others.
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    worst = max(codes.values(), default=0)
    if worst not in (0,):
        raise DeploymentError(
            f"the relay stopped with exit code {worst} (see the log above)",
            hints=[f"oscar-iac events relay {loaded.directory}"],
        )
    return 0
