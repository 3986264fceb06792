"""Build the values the TOSCA and RADL templates are rendered from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oscar_iac import __version__
from oscar_iac.paths import data_path
from oscar_iac.render.ansible_vars import NFS_EXPORT, role_vars
from oscar_iac.secrets import SecretRef
from oscar_iac.site.load import LoadedSite
from oscar_iac.site.model import EgiCloud, ImTarget, LocalCloud, Site

# TOSCA inputs that carry secrets; empty on disk. `up` fills those with env:/file:/vault:
# references (IM stores them); `generate` ones stay empty (made on the front node).
# The roles receive each as `oscar_iac_secret_<name>`.
SECRET_INPUTS = ("oscar_password", "minio_secret_key", "k3s_token", "nifi_password")


def secret_refs(site: Site) -> dict[str, SecretRef]:
    """Where each secret input's value comes from, by input name."""
    stack = site.stack
    return {
        "oscar_password": stack.oscar.password,
        "minio_secret_key": stack.minio.secret_key,
        "k3s_token": stack.kubernetes.token,
        "nifi_password": stack.nifi.password,
    }


def is_dummy(site: Site) -> bool:
    """The embedded IM's Dummy cloud: no VMs to SSH into, so no configure steps."""
    return isinstance(site.target, ImTarget) and isinstance(site.target.cloud, LocalCloud)


def _checkout_url() -> str:
    return Path(data_path("playbooks")).parent.resolve().as_uri()


def repo_url(loaded: LoadedSite) -> str:
    """What each VM fetches to run the roles (site setting, else this checkout)."""
    return (loaded.site.artifacts.repo_url or _checkout_url()).rstrip("/")


def entry_url(loaded: LoadedSite, *, offline: bool = False) -> str:
    """Base URL of the entry playbooks IM downloads. `offline`: the local copies.

    IM's translator downloads http(s) implementations while translating, so an
    offline check uses this checkout's files, which are the same entry playbooks.
    """
    url = loaded.site.artifacts.entry_url
    if offline or not url:
        return _checkout_url()
    return url.rstrip("/")


def dns_names(site: Site) -> list[str]:
    """The names IM registers for the front (TOSCA additional_dns_names).

    On EGI, IM's EGI connector registers names in EGI's dynamic DNS (nsupdate.fedcloud.eu),
    one host per zone; a name "*.<cluster>.<zone>" registers <cluster>.<zone> as a
    wildcard host (IM 2.0 IM/connectors/EGI.py: _get_wildcard_host_domain, then
    /nic/register?...&wildcard=true), so minio.<fqdn>, console.minio.<fqdn> and
    nifi.<fqdn> resolve too. Only that one name: registering <cluster>.<zone> first
    without the wildcard would make IM find the host already there and skip it.
    """
    cluster = site.cluster
    target = site.target
    if isinstance(target, ImTarget) and isinstance(target.cloud, EgiCloud):
        return [f"*.{cluster.fqdn}"]
    return [
        f"{cluster.name}@{cluster.domain}",
        f"minio.{cluster.name}@{cluster.domain}",
        f"console.minio.{cluster.name}@{cluster.domain}",
    ] + (
        # NiFi's Ingress host (roles/nifi): without the name, no certificate is issued.
        [f"nifi.{cluster.name}@{cluster.domain}"] if site.stack.nifi.enabled else []
    )


def endpoints(site: Site) -> dict[str, str]:
    scheme = "https" if site.stack.ingress.tls.mode != "none" else "http"
    fqdn = site.cluster.fqdn
    return {
        "oscar": f"{scheme}://{fqdn}",
        "dashboard": f"{scheme}://{fqdn}/",
        "minio": f"{scheme}://minio.{fqdn}",
        "minio_console": f"{scheme}://console.minio.{fqdn}",
    }


def credentials_hint(site: Site) -> str:
    oscar, minio = site.stack.oscar, site.stack.minio

    def where(ref: str, name: str) -> str:
        if ref == "generate":
            return (
                "generated at first deployment (on IM sites by the front node, never sent to "
                f"IM), kept in the site's state folder as secrets/{name} (mode 0600)"
            )
        return f"from {ref}"

    return (
        f"OSCAR user '{oscar.username}', password {where(oscar.password, 'oscar_password')}; "
        f"MinIO access key '{minio.access_key}', "
        f"secret key {where(minio.secret_key, 'minio_secret_key')}. "
        "Credentials are never part of an output URL."
    )


def template_context(
    loaded: LoadedSite, *, contextualize: bool | None = None, offline: bool = False
) -> dict[str, Any]:
    site = loaded.site
    cluster = site.cluster
    ctx_on = (not is_dummy(site)) if contextualize is None else contextualize
    repo = repo_url(loaded)
    entry = entry_url(loaded, offline=offline)
    hosts = [("front_conf", "front", "front", False), ("wn_conf", "worker", "wn", False)]
    if cluster.gpu_workers.count > 0:
        hosts.append(("gpu_wn_conf", "worker", "gpu_wn", True))
    configure_nodes = [
        {
            "name": name,
            "role": role,
            "host": host,
            "gpu": gpu,
            "playbook": f"{entry}/playbooks/im/{role}.yml",
        }
        for name, role, host, gpu in hosts
    ]
    fqdn = cluster.fqdn
    variables = role_vars(site)
    return {
        "tool_version": __version__,
        "site": site,
        "cluster": cluster,
        "front": cluster.front,
        "workers": cluster.workers,
        "gpu_workers": cluster.gpu_workers,
        "image": cluster.image,
        "storage": site.stack.storage,
        "nfs_mount": NFS_EXPORT,
        "tags": {"oscar-iac-site": site.name, "oscar-iac-cluster": fqdn},
        "dns_names": dns_names(site),
        "front_ports": {
            "http": {"protocol": "tcp", "source": 80},
            "https": {"protocol": "tcp", "source": 443},
        },
        "secret_inputs": SECRET_INPUTS,
        "contextualize": ctx_on,
        "configure_nodes": configure_nodes,
        "repo_url": repo,
        "entry_url": entry,
        "role_vars_json": json.dumps(variables, sort_keys=True),
        "role_vars": variables,
        "endpoints": endpoints(site),
        "credentials_hint": credentials_hint(site),
    }
