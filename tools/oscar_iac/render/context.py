"""Build the values the TOSCA and RADL templates are rendered from."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from oscar_iac import __version__
from oscar_iac.paths import data_path
from oscar_iac.render.ansible_vars import NFS_EXPORT, dump_role_vars, role_vars
from oscar_iac.secrets import SecretRef
from oscar_iac.site.load import LoadedSite
from oscar_iac.site.model import EgiCloud, ImTarget, LocalCloud, Machine, NodesCloud, Site

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


def nodes_cloud(site: Site) -> NodesCloud | None:
    """The `nodes` cloud (existing machines through IM's DeployedNode connector), if it is one."""
    if isinstance(site.target, ImTarget) and isinstance(site.target.cloud, NodesCloud):
        return site.target.cloud
    return None


def _host_id(m: Machine, front: bool) -> str:
    """The TOSCA node name of a machine (TOSCA names: letters, digits, '_')."""
    return "front" if front else "wn_" + m.name.replace("-", "_")


def key_refs(site: Site, workers: int | None = None) -> dict[str, SecretRef]:
    """TOSCA input name -> the SSH private key reference of each machine (nodes cloud)."""
    cloud = nodes_cloud(site)
    if cloud is None:
        return {}
    out: dict[str, SecretRef] = {}
    count = site.cluster.workers.count if workers is None else workers
    for i, m in enumerate(cloud.machines(count)):
        key = m.key or cloud.key
        assert key is not None  # NodesCloud checks it
        out[f"ssh_key_{_host_id(m, i == 0)}"] = key
    return out


def encode_role_vars(variables: dict[str, Any]) -> str:
    """The role variables as base64 of a YAML vars file whose strings are all `!unsafe`
    (ansible_vars.dump_role_vars): site values stay data on the IM node too. Base64 is
    the one form that reaches the play intact through IM 2.0.0's input serialisation
    (json.dumps of a string input, in IM/tosca/Tosca.py `_serialize_interface_input`) and
    through IM's current master, which wraps string inputs as '"%s"' without escaping
    (grycap/im, IM/tosca/Tosca.py, `_gen_configure_from_interfaces`): base64 has no quote,
    backslash or newline."""
    return base64.b64encode(dump_role_vars(variables).encode()).decode()


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
    /nic/register?...&wildcard=true), so minio.<fqdn>, console-minio.<fqdn> and
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
        # One label below the cluster's name, like every public host (a `*.<fqdn>`
        # wildcard certificate covers it; console.minio.<fqdn> was two labels deep).
        f"console-minio.{cluster.name}@{cluster.domain}",
    ] + (
        # NiFi's host on the Gateway (roles/nifi): without the name, no certificate is issued.
        [f"nifi.{cluster.name}@{cluster.domain}"] if site.stack.nifi.enabled else []
    )


def endpoints(site: Site) -> dict[str, str]:
    scheme = "https" if site.stack.ingress.tls.mode != "none" else "http"
    fqdn = site.cluster.fqdn
    return {
        "oscar": f"{scheme}://{fqdn}",
        "dashboard": f"{scheme}://{fqdn}/",
        "minio": f"{scheme}://minio.{fqdn}",
        "minio_console": f"{scheme}://console-minio.{fqdn}",
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


def _nodes_machines(cloud: NodesCloud, workers: int) -> list[dict[str, Any]]:
    return [
        {
            "name": m.name,
            "host": _host_id(m, i == 0),
            "address": m.address,
            "user": m.user or cloud.user,
            "key_input": f"ssh_key_{_host_id(m, i == 0)}",
        }
        for i, m in enumerate(cloud.machines(workers))
    ]


def template_context(
    loaded: LoadedSite,
    *,
    contextualize: bool | None = None,
    offline: bool = False,
    workers: int | None = None,
) -> dict[str, Any]:
    """`workers`: how many workers (default: cluster.workers.count); the nodes cloud
    renders one TOSCA node per machine, so scaling it renders the document again."""
    site = loaded.site
    cluster = site.cluster
    ctx_on = (not is_dummy(site)) if contextualize is None else contextualize
    repo = repo_url(loaded)
    entry = entry_url(loaded, offline=offline)
    cloud = nodes_cloud(site)
    wanted = cluster.workers.count if workers is None else workers
    machines = _nodes_machines(cloud, wanted) if cloud else []
    hosts = [("front_conf", "front", "front", False)]
    if cloud:
        hosts += [(f"{m['host']}_conf", "worker", m["host"], False) for m in machines[1:]]
    else:
        hosts.append(("wn_conf", "worker", "wn", False))
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
        "role_vars_b64": encode_role_vars(variables),
        "role_vars": variables,
        "dummy": is_dummy(site),
        "nodes": machines,
        "key_inputs": list(key_refs(site, wanted)),
        "endpoints": endpoints(site),
        "credentials_hint": credentials_hint(site),
    }
