"""Site -> the variables the roles take (both paths: IM configure steps and hosts).

Only non-secret values go here. Secrets reach the roles separately: on the IM path
as TOSCA inputs filled in memory by `up`; on the hosts path through the secret
references (env/file/vault) resolved by the playbook run.
"""

from __future__ import annotations

from typing import Any

from oscar_iac.site.model import HostSpec, HostsTarget, Site, size_to_bytes

NFS_EXPORT = "/pv"


def role_vars(site: Site) -> dict[str, Any]:
    """Variables for playbooks/site.yml, prefixed by the role that reads them."""
    stack, cluster = site.stack, site.cluster
    out: dict[str, Any] = {
        "oscar_iac_cluster_name": cluster.name,
        "oscar_iac_cluster_domain": cluster.domain,
        "oscar_iac_cluster_fqdn": cluster.fqdn,
        "oscar_iac_airgap_dir": site.artifacts.airgap_dir or "",
        # Kubernetes
        "k3s_version_override": stack.kubernetes.version or "",
        "k3s_ha": stack.kubernetes.ha,
        # RWX storage
        "nfs_enabled": stack.storage.nfs,
        "nfs_export_path": NFS_EXPORT,
        "nfs_storage_class": stack.storage.storage_class,
        # Ingress / TLS
        "ingress_enabled": stack.ingress.enabled,
        "ingress_tls_mode": stack.ingress.tls.mode,
        "ingress_acme_email": stack.ingress.tls.email or "",
        "ingress_hostname": cluster.fqdn,
        # MinIO (secret key comes separately)
        "minio_access_key": stack.minio.access_key,
        "minio_hostname": f"minio.{cluster.fqdn}",
        "minio_console_hostname": f"console.minio.{cluster.fqdn}",
        # Knative (OSCAR's synchronous /run)
        "knative_enabled": stack.knative.enabled,
        # OSCAR (password comes separately)
        "oscar_username": stack.oscar.username,
        "oscar_hostname": cluster.fqdn,
        "oscar_oidc_enabled": stack.oidc.enabled,
        "oscar_oidc_issuers": [str(u) for u in stack.oidc.issuers],
        "oscar_oidc_groups": list(stack.oidc.allowed_vos),
        "oscar_allowed_image_prefixes": list(stack.oscar.allowed_image_prefixes),
        # NiFi (dCache events)
        "nifi_enabled": stack.nifi.enabled,
        # GPU workers
        "gpu_enabled": site.cluster.gpu_workers.count > 0,
    }
    if stack.oscar.version:
        out["oscar_version_override"] = stack.oscar.version
    out["nfs_size_bytes"] = size_to_bytes(stack.storage.size)
    return out


def hosts_inventory(site: Site) -> dict[str, Any]:
    """An Ansible YAML inventory for the hosts target (groups front / workers)."""
    if not isinstance(site.target, HostsTarget):
        return {}
    tgt = site.target

    def host(h: HostSpec) -> dict[str, Any]:
        return {"ansible_host": h.address, "ansible_user": h.user, "ansible_port": h.port}

    return {
        "all": {
            "vars": {"ansible_become": tgt.become, **role_vars(site)},
            "children": {
                "front": {"hosts": {tgt.front.name: host(tgt.front)}},
                "workers": {"hosts": {w.name: host(w) for w in tgt.workers}},
            },
        }
    }
