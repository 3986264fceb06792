"""Rules that span several fields of a site. Each names the field a user must change."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from urllib.parse import urlparse

from oscar_iac.naming import service_name
from oscar_iac.paths import data_path
from oscar_iac.site.model import (
    DcacheEventSource,
    EgiCloud,
    HostsTarget,
    ImTarget,
    LocalCloud,
    NodesCloud,
    OscarTarget,
    Site,
)
from oscar_iac.yamlpos import Loc

Finding = tuple[Loc, str]


def check(site: Site) -> list[Finding]:
    return list(_findings(site))


def _findings(site: Site) -> Iterator[Finding]:
    stack = site.stack
    if "cluster" not in site.model_fields_set and not isinstance(site.target, OscarTarget):
        yield (
            ("cluster",),
            f"required field is missing (a '{site.target.kind}' target builds a cluster)",
        )
    if not stack.knative.enabled:
        for i, m in enumerate(site.models):
            if m.mode in ("sync", "both"):
                yield (
                    ("models", i, "mode"),
                    f"model {m.module!r} is invoked synchronously (mode {m.mode}), which needs "
                    "OSCAR's /run and so Knative: set stack.knative.enabled: true or mode: async",
                )
    if not stack.nifi.enabled:
        for i, e in enumerate(site.events):
            if isinstance(e, DcacheEventSource) and e.via == "nifi":
                yield (
                    ("events", i, "kind"),
                    "dcache event sources with via: nifi are carried by NiFi: set "
                    "stack.nifi.enabled: true (or via: relay for the light relay)",
                )
    if stack.kubernetes.ha and isinstance(site.target, ImTarget):
        yield (
            ("stack", "kubernetes", "ha"),
            "HA control planes are supported on the hosts target only",
        )
    if (
        isinstance(site.target, HostsTarget)
        and len(site.target.workers) != site.cluster.workers.count
    ):
        yield (
            ("cluster", "workers", "count"),
            f"is {site.cluster.workers.count} but target.workers lists {len(site.target.workers)} "
            "hosts; on the hosts target they must agree",
        )
    yield from _nodes_findings(site)
    if isinstance(site.target, HostsTarget):
        tgt = site.target
        yield from _distinct_machines(
            ("target",), [(h.name, h.address, h.port) for h in (tgt.front, *tgt.workers)]
        )
    yield from _role_vars_findings(site)
    yield from _im_findings(site)
    if not stack.storage.nfs and stack.storage.storage_class in _NOT_RWX:
        yield (
            ("stack", "storage", "storage_class"),
            f"is {stack.storage.storage_class!r} with storage.nfs false: OSCAR's volume needs "
            "ReadWriteMany, which only the nfs role's class gives here ('local-path' is "
            "ReadWriteOnce): set storage.nfs: true, or name an RWX StorageClass your "
            "cluster provides",
        )
    if not stack.oidc.enabled and stack.oidc.allowed_vos:
        yield (("stack", "oidc", "allowed_vos"), "is set but stack.oidc.enabled is false")
    yield from _event_services(site)
    seen: dict[str, int] = {}
    for i, e in enumerate(site.events):
        if e.name in seen:
            yield (("events", i, "name"), f"{e.name!r} is already used by events[{seen[e.name]}]")
        seen.setdefault(e.name, i)
    modules: dict[str, int] = {}
    services: dict[str, int] = {}
    for i, m in enumerate(site.models):
        if m.module in modules:
            yield (
                ("models", i, "module"),
                f"{m.module!r} is already listed at models[{modules[m.module]}]",
            )
        modules.setdefault(m.module, i)
        if m.service:
            if m.service in services:
                yield (
                    ("models", i, "service"),
                    f"{m.service!r} is already used by models[{services[m.service]}]",
                )
            services.setdefault(m.service, i)


# StorageClasses that cannot hold OSCAR's ReadWriteMany claim without the nfs role:
# 'nfs' exists only when that role runs; k3s' local-path provisioner is RWO only.
_NOT_RWX = ("nfs", "local-path", "")


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _im_findings(site: Site) -> Iterator[Finding]:
    target = site.target
    if not isinstance(target, ImTarget):
        return
    # The relay is a systemd service the hosts playbook installs (role dcache_relay);
    # IM's entry playbooks (playbooks/im/) run no relay and the TOSCA carries no input
    # for its dCache credentials: it would be silently missing. NiFi carries the same
    # events on IM sites. (IM's embedded Dummy cloud runs no playbook at all; there the
    # relay runs in the foreground only: `oscar-iac events relay SITE`.)
    for i, e in enumerate(site.events):
        if (
            isinstance(e, DcacheEventSource)
            and e.via == "relay"
            and not isinstance(target.cloud, LocalCloud)
        ):
            yield (
                ("events", i, "via"),
                "is 'relay', which only the hosts target installs (IM's playbooks run no "
                "relay): use via: nifi with stack.nifi.enabled: true, or a hosts target",
            )
    image = site.cluster.image.url or ""
    if isinstance(target.cloud, EgiCloud) and image.startswith("appdb://"):
        yield (
            ("cluster", "image", "url"),
            "appdb:// image URLs are not accepted by IM 2.0 (AppDB is gone; its OpenStack "
            "connector takes egi:// and ost://): write e.g. "
            f"'egi://{target.cloud.site}/egi_vm_images/ubuntu:22.04?{target.cloud.vo}'",
        )
    endpoint = str(target.endpoint)
    if endpoint == "embedded" or _is_loopback(endpoint):
        return
    # A remote IM reads neither this checkout nor any file:// URL of this machine.
    for field in ("repo_url", "entry_url"):
        value = getattr(site.artifacts, field)
        if value is None or value.startswith("file://"):
            what = (
                "is unset, so it defaults to this checkout as file://"
                if value is None
                else "is file://"
            )
            yield (
                ("artifacts", field),
                f"{what}, which the remote IM at {endpoint} cannot read: give an https:// "
                "(or git) URL of a published oscar-iac release",
            )


def _event_services(site: Site) -> Iterator[Finding]:
    """Each event source feeds a service this site registers (its models)."""
    defined = {m.service or service_name(m.module) for m in site.models}
    for i, e in enumerate(site.events):
        if e.service not in defined:
            have = ", ".join(sorted(defined)) or "none: the site lists no models"
            yield (
                ("events", i, "service"),
                f"{e.service!r} is not a service of this site (its models give: {have}); "
                "expected the service of one of the site's models",
            )


def _nodes_findings(site: Site) -> Iterator[Finding]:
    """The `nodes` cloud: the machines listed must cover the cluster asked for."""
    if not isinstance(site.target, ImTarget) or not isinstance(site.target.cloud, NodesCloud):
        return
    cloud = site.target.cloud
    if site.cluster.workers.count > len(cloud.workers):
        yield (
            ("cluster", "workers", "count"),
            f"is {site.cluster.workers.count} but target.cloud.workers lists "
            f"{len(cloud.workers)} machines; list one machine per worker",
        )
    if site.cluster.gpu_workers.count:
        yield (
            ("cluster", "gpu_workers", "count"),
            "the nodes cloud has no GPU workers yet: list GPU machines as workers and set it to 0",
        )
    yield from _distinct_machines(
        ("target", "cloud"), [(m.name, m.address, 22) for m in (cloud.front, *cloud.workers)]
    )


def _distinct_machines(where: Loc, machines: list[tuple[str, str, int]]) -> Iterator[Finding]:
    """The front (first) and the workers: no name or address twice, letters' case aside
    (DNS names are case-insensitive: 'Node1' and 'node1' are one machine)."""
    names: dict[str, int] = {}
    addresses: dict[tuple[str, int], int] = {}
    for i, (name, address, port) in enumerate(machines):
        key = (address.lower().rstrip("."), port)
        loc = (*where, "front") if i == 0 else (*where, "workers", i - 1)
        if name.lower() in names:
            j = names[name.lower()]
            other = "the front" if j == 0 else f"workers[{j - 1}]"
            yield ((*loc, "name"), f"{name!r} is already the name of {other}")
        if key in addresses:
            j = addresses[key]
            other = "the front" if j == 0 else f"workers[{j - 1}]"
            yield ((*loc, "address"), f"{address!r} is already the address of {other}")
        names.setdefault(name.lower(), i)
        addresses.setdefault(key, i)


def role_prefixes() -> set[str]:
    """Role names (roles/<name>/): every role variable starts with one of them + '_'."""
    return {p.name for p in data_path("roles").iterdir() if (p / "tasks").is_dir()}


# OSCAR chart 4.1.2 templates/oscar-additional-cm.yaml creates the ConfigMap
# `additional-oscar-config` (allowed image prefixes) in the hard-coded namespace
# `oscar-svc`, while OSCAR reads it from its services namespace (grycap/oscar v4.1.2
# pkg/backends/knative.go: checkAdditionalConfig(ConfigMapNameOSCAR,
# ServicesNamespace, ...)): another services namespace would silently drop the
# site's image restrictions.
CHART_SERVICES_NAMESPACE = "oscar-svc"


def _role_vars_findings(site: Site) -> Iterator[Finding]:
    prefixes = role_prefixes()
    ns = site.stack.role_vars.get("oscar_services_namespace", CHART_SERVICES_NAMESPACE)
    if ns != CHART_SERVICES_NAMESPACE:
        yield (
            ("stack", "role_vars", "oscar_services_namespace"),
            f"is {ns!r}, but OSCAR chart 4.1.2 creates its image-prefix ConfigMap "
            f"(additional-oscar-config) in {CHART_SERVICES_NAMESPACE!r} whatever the "
            "services namespace: remove it (the services namespace must be "
            f"{CHART_SERVICES_NAMESPACE!r})",
        )
    for key in site.stack.role_vars:
        if not any(key.startswith(f"{p}_") for p in prefixes):
            yield (
                ("stack", "role_vars", key),
                "expected a role variable starting with a role's prefix ("
                + ", ".join(f"{p}_" for p in sorted(prefixes))
                + ")",
            )
