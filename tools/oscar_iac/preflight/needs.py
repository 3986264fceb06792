"""What a site asks the cloud for, in the units IM uses when it creates the VMs.

Facts from IM 2.0 (PyPI `IM==2.0.0`), read in the installed package:
- IM/tosca/Tosca.py maps `num_cpus` -> `cpu.count`, `mem_size` -> `memory.size`,
  `disk_size` -> `disk.0.size`, `num_gpus` -> `gpu.count`, `gpu_vendor` -> `gpu.vendor`,
  sizes normalised to bytes (`_get_size_and_unit`).
- IM/connectors/OpenStack.py `get_instance_type` compares `memory.size` in 'M', which the
  radl package (radl/radl.py `UnitToValue`) reads as 10**6 bytes: '8 GiB' asks for 8590 MB,
  so a flavour of 8192 MiB does not fit it.
- With `disk.0.size` set, IM boots from a new volume of that size, in 'G' (10**9 bytes,
  rounded) (`get_boot_disk` ... `volume_size`), so every VM costs a Cinder volume; the NFS
  disk is one more volume (`disk.1.size`).
- `create_security_groups`: one security group per network a VM is attached to
  (`im-<inf>-<net>`), two rules each (tcp/udp within the group) plus one per open port,
  and SSH on public networks.
"""

from __future__ import annotations

from dataclasses import dataclass

from radl.radl import Feature

from oscar_iac.site.model import Flavour, GpuWorkers, Site, size_to_bytes


def im_units(size: str, unit: str) -> int:
    """A site size in IM's comparison units ('M' or 'G', powers of ten), as IM rounds it."""
    return int(Feature("size", "=", size_to_bytes(size), "B").getValue(unit))


@dataclass(frozen=True)
class RoleRequest:
    """One kind of VM: what IM is asked for and how many."""

    role: str  # front, workers, gpu workers
    count: int
    cpus: int
    memory_mb: int  # IM's 'M' (10**6 bytes); 0 when an instance type is named
    boot_volume_gb: int  # IM's 'G'; 0 when no disk size is set (boot from the image)
    instance_type: str | None = None
    gpus: int = 0
    gpu_vendor: str | None = None

    @property
    def label(self) -> str:
        if self.instance_type:
            return f"instance type {self.instance_type}"
        gpu = f", {self.gpus} {self.gpu_vendor or ''} GPU".rstrip() if self.gpus else ""
        return f"{self.cpus} vCPU, {self.memory_mb} MB{gpu}"


def _role(name: str, spec: Flavour, count: int) -> RoleRequest:
    gpus = spec.gpus if isinstance(spec, GpuWorkers) else 0
    vendor = spec.gpu_vendor.upper() if isinstance(spec, GpuWorkers) else None
    if spec.instance_type:
        # The template sends no cpus/memory/disk with an instance type.
        return RoleRequest(name, count, 1, 0, 0, spec.instance_type, gpus, vendor)
    return RoleRequest(
        name,
        count,
        spec.cpus,
        im_units(spec.memory, "M"),
        im_units(spec.disk, "G"),
        None,
        gpus,
        vendor,
    )


@dataclass(frozen=True)
class Needs:
    roles: list[RoleRequest]
    nfs_volume_gb: int  # 0: no NFS volume
    floating_ips: int
    security_groups: int
    security_group_rules: int

    @property
    def instances(self) -> int:
        return sum(r.count for r in self.roles)

    @property
    def volumes(self) -> int:
        boot = sum(r.count for r in self.roles if r.boot_volume_gb)
        return boot + (1 if self.nfs_volume_gb else 0)

    @property
    def volume_gb(self) -> int:
        return sum(r.count * r.boot_volume_gb for r in self.roles) + self.nfs_volume_gb


FRONT_PORTS = 2  # http, https (render/context.py front_ports)


def needs(site: Site) -> Needs:
    c = site.cluster
    roles = [_role("front", c.front, 1)]
    if c.workers.count:
        roles.append(_role("workers", c.workers, c.workers.count))
    if c.gpu_workers.count:
        roles.append(_role("gpu workers", c.gpu_workers, c.gpu_workers.count))
    networks = 2 if len(roles) > 1 else 1  # public (front) and private (workers)
    rules = 2 * networks + FRONT_PORTS + 1  # + SSH on the public network
    nfs = im_units(site.stack.storage.size, "G") if site.stack.storage.nfs else 0
    return Needs(roles, nfs, 1, networks, rules)
