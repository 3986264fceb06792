"""Site -> the variables the roles take (both paths: IM configure steps and hosts).

Only non-secret values go here. Secrets reach the roles separately: on the IM path
as TOSCA inputs filled in memory by `up`; on the hosts path as environment variables of
the ansible-playbook process, resolved by `up` (see `secret_env`). Every site value in
the hosts inventory is data (`!unsafe`): only our own lookups are templated.
"""

from __future__ import annotations

from typing import Any

import yaml

from oscar_iac.secrets import SecretRef
from oscar_iac.site.model import DcacheEventSource, HostSpec, HostsTarget, Site
from oscar_iac.state import state_root

NFS_EXPORT = "/pv"


def public_hosts(site: Site) -> list[str]:
    """Every host name the cluster's Gateway serves, each one label below the cluster's.

    One label deep so a `*.<fqdn>` wildcard (EGI's DNS entry, a wildcard certificate)
    covers them all; the console is console-minio.<fqdn> (upstream's IM recipe, grycap/tosca
    templates/oscar.yaml, names it so), not console.minio.<fqdn>.
    """
    fqdn = site.cluster.fqdn
    hosts = [fqdn, f"minio.{fqdn}", f"console-minio.{fqdn}"]
    if site.stack.nifi.enabled:
        hosts.append(f"nifi.{fqdn}")
    return hosts


def role_vars(site: Site) -> dict[str, Any]:
    """Variables for the roles, each prefixed by the role that reads it.

    The `*_enabled` switches are read by the playbooks (which roles run), not by roles.
    """
    stack, cluster = site.stack, site.cluster
    fqdn = cluster.fqdn
    out: dict[str, Any] = {
        "oscar_iac_cluster_fqdn": fqdn,
        "oscar_iac_airgap_dir": site.artifacts.airgap_dir or "",
        # sha256 recorded on the controller for artifacts versions.yml leaves unpinned
        # (`record: first-fetch`, e.g. Knative's release manifests): the roles check every
        # download against them (roles/kube_apply, roles/knative).
        "oscar_iac_artifact_pins": artifact_pins(site),
        # Kubernetes
        "k3s_ha": stack.kubernetes.ha,
        # RWX storage (the playbooks skip the nfs role when off)
        "nfs_enabled": stack.storage.nfs,
        "nfs_export_path": NFS_EXPORT,
        "nfs_storage_class": stack.storage.storage_class,
        # Ingress / TLS
        "ingress_enabled": stack.ingress.enabled,
        "ingress_tls_mode": stack.ingress.tls.mode,
        "ingress_acme_email": stack.ingress.tls.email or "",
        "ingress_hostname": fqdn,
        # One HTTPS listener and certificate per public host on the Gateway.
        "ingress_hosts": public_hosts(site),
        # MinIO (its secret key comes separately)
        "minio_access_key": stack.minio.access_key,
        "minio_hostname": f"minio.{fqdn}",
        "minio_console_hostname": f"console-minio.{fqdn}",
        # Knative (OSCAR's synchronous /run)
        "knative_enabled": stack.knative.enabled,
        # OSCAR (its password and MinIO's secret key come separately)
        "oscar_username": stack.oscar.username,
        "oscar_hostname": fqdn,
        "oscar_ingress_enabled": stack.ingress.enabled,
        "oscar_minio_access_key": stack.minio.access_key,
        **_oscar_minio(site),
        "oscar_serverless_backend": "knative" if stack.knative.enabled else "",
        # With storage.nfs false, validate has checked this names an RWX class of the site's own.
        "oscar_volume_storage_class": stack.storage.storage_class,
        "oscar_oidc_enabled": stack.oidc.enabled,
        "oscar_oidc_issuers": [str(u) for u in stack.oidc.issuers],
        "oscar_oidc_groups": list(stack.oidc.allowed_vos),
        "oscar_allowed_image_prefixes": list(stack.oscar.allowed_image_prefixes),
        # NiFi (dCache events; its password comes separately)
        "nifi_enabled": stack.nifi.enabled,
        "nifi_username": stack.nifi.username,
        "nifi_hostname": f"nifi.{fqdn}",
        # GPU workers
        "gpu_enabled": cluster.gpu_workers.count > 0,
        # dCache sources with via: relay (their credentials come separately)
        "dcache_relay_sources": relay_sources(site),
        "dcache_relay_oscar_ca_secret": relay_oscar_ca(site),
    }
    if stack.oscar.version:
        out["oscar_image_tag"] = stack.oscar.version
    # The site's own role variables last: they win (checked by site.rules).
    out.update(stack.role_vars)
    return out


def artifact_pins(site: Site) -> dict[str, str]:
    """The pins recorded for this site (tools/oscar_iac/airgap/pins.py), read-only."""
    from oscar_iac.airgap import pins  # imports requests: start-up speed of the CLI

    return pins.for_roles(state_root() / site.name)


# Roles whose Kubernetes objects `<role>_apply: false` keeps on the front, unapplied.
_APPLYING_ROLES = ("nfs", "gpu", "ingress", "minio", "knative", "oscar", "nifi")


def skipped_steps(variables: dict[str, Any]) -> list[str]:
    """What the roles will leave undone with these variables, and why (told by `up`)."""
    out: list[str] = []
    if variables.get("k3s_state") == "configured":
        out.append(
            "k3s: configuration, token and systemd unit written; the binary is not "
            "downloaded and nothing is started (k3s_state: configured)"
        )
    for role in _APPLYING_ROLES:
        if variables.get(f"{role}_apply") is False:
            out.append(
                f"{role}: Kubernetes objects rendered under /etc/oscar-iac/manifests/{role}/ "
                f"on the front, not handed to k3s ({role}_apply: false)"
            )
    return out


def _oscar_minio(site: Site) -> dict[str, Any]:
    """MinIO's URL as OSCAR hands it to clients.

    OSCAR returns its MinIO endpoint in /system/config and signs presigned URLs with it
    (grycap/oscar v4.1.2 pkg/handlers/config.go, pkg/handlers/buckets/presign_bucket.go),
    so it must be the public one; upstream's IM recipe gives OSCAR
    https://<minio_dns_host> (grycap/tosca artifacts/oscar/oscar_install.yml).
    Without the ingress, only the in-cluster address exists.
    """
    ingress = site.stack.ingress
    if not ingress.enabled:
        return {}
    mode = ingress.tls.mode
    return {
        "oscar_minio_endpoint": f"{'http' if mode == 'none' else 'https'}://minio.{site.cluster.fqdn}",
        # A self-signed certificate cannot be verified: the site chose it explicitly.
        "oscar_minio_tls_verify": mode != "self-signed",
    }


def relay_sources(site: Site) -> list[dict[str, Any]]:
    """The dcache_relay role's sources: dCache sources with `via: relay`, posting to this
    cluster's OSCAR (behind the ingress on the front)."""
    scheme = "https" if site.stack.ingress.tls.mode != "none" else "http"
    return [
        {
            "name": e.name,
            "endpoint": str(e.frontend).rstrip("/") + "/api/v1",
            "paths": [e.path.rstrip("/") or "/"],
            "recursive": e.recursive,
            "auth": "basic" if e.auth == "basic" else "oidc",  # macaroons are bearer tokens
            "username": e.username or "",
            "webdav": str(e.webdav).rstrip("/"),
            "verify_tls": e.verify_tls,
            "oscar_url": f"{scheme}://{site.cluster.fqdn}",
            "service": e.service,
        }
        for e in site.events
        if isinstance(e, DcacheEventSource) and e.via == "relay"
    ]


def relay_oscar_ca(site: Site) -> dict[str, str]:
    """Where the relay finds the certificate to trust for OSCAR in self-signed mode.

    OSCAR chart 4.1.2 templates/oscar-ingress.yaml: `tls.secretName` is the host name, in
    the chart's namespace (role oscar: `oscar`), filled by cert-manager from the
    ClusterIssuer annotation; with the SelfSigned issuer its `ca.crt` is the certificate
    itself. Other modes use publicly trusted certificates ({}: the system's store)."""
    if not site.stack.ingress.enabled or site.stack.ingress.tls.mode != "self-signed":
        return {}
    return {"namespace": "oscar", "name": site.cluster.fqdn, "key": "ca.crt"}


def relay_secret_refs(site: Site) -> dict[str, SecretRef]:
    """Each relay source's dCache credential, as `dcache_<name>` (see playbooks/tasks/secrets.yml)."""
    return {
        f"dcache_{e.name.replace('-', '_')}": e.credential
        for e in site.events
        if isinstance(e, DcacheEventSource) and e.via == "relay"
    }


# The hosts inventory names each secret by an environment variable of the
# ansible-playbook process: `oscar-iac up` resolves every reference once, through the one
# secret resolver, and hands the values over in that environment (never in a file, an
# argument or the inventory). Nothing re-reads a secret by path when the play runs.
SECRET_ENV_PREFIX = "OSCAR_IAC_SECRET_"


def secret_env(name: str) -> str:
    """The environment variable that carries secret `name` to ansible-playbook."""
    return SECRET_ENV_PREFIX + name.upper()


def secret_lookup(name: str) -> str:
    """Our own Ansible expression (the only templated text of the inventory)."""
    return f"{{{{ lookup('ansible.builtin.env', {secret_env(name)!r}) }}}}"


class Unsafe(str):
    """A site value in the inventory: written `!unsafe`, so Ansible never templates it
    (a site's '{{ lookup(...) }}' stays text; ansible-core's `!unsafe` YAML tag)."""

    __slots__ = ()


def unsafe(value: Any) -> Any:
    """`value` with every string in it (not the mapping keys) marked Unsafe."""
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, dict):
        return {k: unsafe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unsafe(v) for v in value]
    return value


class _InventoryDumper(yaml.SafeDumper):
    pass


def _represent_unsafe(dumper: yaml.SafeDumper, value: Unsafe) -> yaml.Node:
    return dumper.represent_scalar("!unsafe", str(value))


_InventoryDumper.add_representer(Unsafe, _represent_unsafe)


def dump_inventory(inventory: dict[str, Any]) -> str:
    """The inventory as YAML: site values tagged !unsafe, our lookups plain."""
    return "---\n" + yaml.dump(inventory, Dumper=_InventoryDumper, sort_keys=False)


def dump_role_vars(variables: dict[str, Any]) -> str:
    """Role variables as a vars file for `include_vars`: every string tagged !unsafe, so
    the play on an IM node never templates a site value either."""
    return "---\n" + yaml.dump(unsafe(variables), Dumper=_InventoryDumper, sort_keys=True)


def hosts_inventory(site: Site, secrets: dict[str, SecretRef]) -> dict[str, Any]:
    """An Ansible YAML inventory for the hosts target (groups front / workers)."""
    if not isinstance(site.target, HostsTarget):
        return {}
    tgt = site.target
    lookups = {
        f"oscar_iac_secret_{name}": secret_lookup(name)
        for name in {**secrets, **relay_secret_refs(site)}
    }

    def host(h: HostSpec) -> dict[str, Any]:
        return {
            "ansible_host": Unsafe(h.address),
            "ansible_user": Unsafe(h.user),
            "ansible_port": h.port,
        }

    return {
        "all": {
            "vars": {"ansible_become": tgt.become, **unsafe(role_vars(site)), **lookups},
            "children": {
                "front": {"hosts": {tgt.front.name: host(tgt.front)}},
                "workers": {"hosts": {w.name: host(w) for w in tgt.workers}},
            },
        }
    }
