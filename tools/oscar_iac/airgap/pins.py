"""Pins recorded on first fetch: artifacts whose sha256 cannot be written in versions.yml.

Some upstream artifacts publish no digest this project can read beforehand (Knative's
release manifests are GitHub release assets; Traefik's chart archive digest is only in
traefik/charts' index and on ghcr.io). Such an artifact carries, in versions.yml,
`sha256: ""` and `record: first-fetch`. The machine that runs `oscar-iac up` (or
`oscar-iac airgap pin SITE`) then downloads it ONCE, checks it against the release's
own checksum list where the artifact names one (`checksums: URL`, e.g. Knative's
`checksums.txt`), and records its sha256 in the site's state folder
(`<state>/<site>/artifact-pins.json`, 0600). From then on:

- every download of it, on any node and on both paths (hosts playbook, IM contextualization),
  is checked against that recorded sha256 (the roles get the pins as
  `oscar_iac_artifact_pins`, see render/ansible_vars.py and roles/kube_apply);
- a later fetch (another version, a lost pin file) that disagrees with the release's
  checksum list stops `up` before anything is created (exit 2).

The pin file is the site's to keep (and to review, or to copy into versions.yml).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.state.files import write_private
from oscar_iac.versions import VERSIONS_KEY, versions, versions_file

if TYPE_CHECKING:
    from oscar_iac.site.model import Site

PIN_FILE = "artifact-pins.json"
FIRST_FETCH = "first-fetch"
MAX_BYTES = 64 << 20  # a release manifest or a chart archive; nothing near this size
_SHA = re.compile(r"^[0-9a-f]{64}$")

# url -> the bytes it serves (the transport; tests pass a loopback server's or a double's)
Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class Recordable:
    """An artifact of versions.yml with no sha256 that may be pinned on first fetch."""

    component: str
    name: str
    url: str
    checksums: str  # URL of the release's checksum list ("" = none published)


@dataclass(frozen=True)
class Pin:
    name: str
    url: str
    sha256: str
    checked: str  # what the first fetch was checked against


def recordable(path: Path | None = None) -> list[Recordable]:
    """Every `record: first-fetch` artifact of the versions file."""
    source = path or versions_file()
    out: list[Recordable] = []
    for component, spec in versions(path).items():
        for i, art in enumerate(spec.get("artifacts") or []):
            if not isinstance(art, dict) or art.get("record") is None:
                continue
            where = f"{VERSIONS_KEY}.{component}.artifacts[{i}]"
            if art.get("record") != FIRST_FETCH:
                raise UserError(Problem(source, f"{where}.record", f"expected {FIRST_FETCH!r}"))
            if art.get("sha256"):
                raise UserError(
                    Problem(source, f"{where}.sha256", "a pinned artifact needs no record")
                )
            out.append(
                Recordable(
                    component, str(art["name"]), str(art["url"]), str(art.get("checksums") or "")
                )
            )
    return out


def pin_file(state_dir: Path) -> Path:
    return state_dir / PIN_FILE


def load(state_dir: Path) -> dict[str, Pin]:
    """The recorded pins (none when the file does not exist); a damaged file is refused."""
    path = pin_file(state_dir)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(Problem(path, "", f"unreadable pin file ({exc})")) from exc
    if not isinstance(data, dict):
        raise UserError(Problem(path, "", "expected a JSON object name -> {url, sha256}"))
    pins: dict[str, Pin] = {}
    for name, entry in data.items():
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("url"), str)
            or not _SHA.match(str(entry.get("sha256", "")))
        ):
            raise UserError(Problem(path, str(name), "expected {url, sha256: 64 hex digits}"))
        pins[str(name)] = Pin(
            str(name), entry["url"], entry["sha256"], str(entry.get("checked", ""))
        )
    return pins


def _save(state_dir: Path, pins: dict[str, Pin]) -> None:
    path = pin_file(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    body: dict[str, Any] = {
        p.name: {"url": p.url, "sha256": p.sha256, "checked": p.checked}
        for p in sorted(pins.values(), key=lambda p: p.name)
    }
    write_private(path, json.dumps(body, indent=2, sort_keys=True) + "\n")


def for_roles(state_dir: Path, path: Path | None = None) -> dict[str, str]:
    """name -> sha256 of the recorded pins that still match versions.yml's URL."""
    wanted = {r.name: r.url for r in recordable(path)}
    return {n: p.sha256 for n, p in load(state_dir).items() if wanted.get(n) == p.url}


def http_fetch(url: str) -> bytes:
    """The real transport: one HTTPS GET, size-capped."""
    with requests.get(url, stream=True, timeout=60) as resp:
        resp.raise_for_status()
        data = bytearray()
        for chunk in resp.iter_content(1 << 20):
            data += chunk
            if len(data) > MAX_BYTES:
                raise DeploymentError(f"{url}: more than {MAX_BYTES} bytes; not an artifact")
        return bytes(data)


def parse_checksums(text: str) -> dict[str, str]:
    """`sha256sum` output (`<hex>  <name>` per line, `*name` in binary mode) -> name -> hex.

    knative/hack release.sh writes checksums.txt with `sha256sum ${artifact}` for every
    artifact of the release (L334-346 at b2a37f1b, see ../shared/vendor/README.md)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split()
        if len(parts) == 2 and _SHA.match(parts[0].lower()):
            out[parts[1].lstrip("*").rsplit("/", 1)[-1]] = parts[0].lower()
    return out


def _get(fetch: Fetch, url: str, what: str) -> bytes:
    try:
        return fetch(url)
    except (requests.RequestException, OSError) as exc:
        raise DeploymentError(f"could not fetch {what} {url}: {exc}") from exc


def ensure(
    state_dir: Path,
    names: Iterable[str] | None = None,
    *,
    fetch: Fetch | None = None,
    path: Path | None = None,
    on_event: Callable[[str], None] = lambda _m: None,
) -> dict[str, str]:
    """Record every missing pin (of `names`, default all recordable) and return name -> sha256.

    A recorded pin is never re-fetched. A first fetch that disagrees with its release's
    checksum list, or a checksum list that does not name the artifact, is a UserError
    (exit 2): the site is not deployable with that release and nothing has been created.
    """
    get = fetch or http_fetch  # looked up at call time: the one transport
    wanted = [r for r in recordable(path) if names is None or r.name in set(names)]
    pins = load(state_dir)
    lists: dict[str, dict[str, str]] = {}
    changed = False
    for art in wanted:
        known = pins.get(art.name)
        if known is not None and known.url == art.url:
            continue
        data = _get(get, art.url, art.name)
        digest = hashlib.sha256(data).hexdigest()
        checked = "first fetch (no checksum list published)"
        if art.checksums:
            if art.checksums not in lists:
                raw = _get(get, art.checksums, "the checksum list")
                lists[art.checksums] = parse_checksums(raw.decode("utf-8", "replace"))
            listed = lists[art.checksums].get(art.name)
            if listed is None:
                raise UserError(
                    Problem(
                        path or versions_file(),
                        f"{VERSIONS_KEY}.{art.component}.artifacts[{art.name}]",
                        f"{art.checksums} does not list {art.name}: not recorded",
                    )
                )
            if listed != digest:
                raise UserError(
                    Problem(
                        path or versions_file(),
                        f"{VERSIONS_KEY}.{art.component}.artifacts[{art.name}]",
                        f"{art.url} has sha256 {digest}, but {art.checksums} lists {listed}: "
                        "refusing it (nothing was created)",
                    )
                )
            checked = f"matches {art.checksums}"
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        pins[art.name] = Pin(art.name, art.url, digest, f"{checked}; recorded {stamp}")
        changed = True
        on_event(f"recorded sha256 {digest[:16]}… of {art.name} ({checked})")
    if changed:
        _save(state_dir, pins)
    urls = {r.name: r.url for r in recordable(path)}
    return {n: p.sha256 for n, p in pins.items() if urls.get(n) == p.url}


# Components whose artifacts a site needs only when it turns them on (every other
# component's `record: first-fetch` artifacts are needed by every site).
def _optional(site: Site) -> dict[str, bool]:
    """Whether the role that downloads each optional component will run: enabled in the
    stack, and not told to leave its objects unapplied (`<role>_apply: false`, the role
    variable every Kubernetes-level role has: it then downloads nothing)."""

    def applies(role: str) -> bool:
        return site.stack.role_vars.get(f"{role}_apply", True) is not False

    return {
        "knative_serving": site.stack.knative.enabled and applies("knative"),
        "traefik": site.stack.ingress.enabled and applies("ingress"),
    }


def needed_for(site: Site, path: Path | None = None) -> list[str]:
    """Names of the `record: first-fetch` artifacts this site's roles will download."""
    optional = _optional(site)
    return [r.name for r in recordable(path) if optional.get(r.component, True)]
