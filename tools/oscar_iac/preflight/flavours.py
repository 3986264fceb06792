"""The flavour IM 2.0 would pick for a role, from one listing of the project's flavours.

Re-stated from IM 2.0's `OpenStackCloudConnector.get_instance_type` and
`get_list_sizes_details` (IM/connectors/OpenStack.py, PyPI IM==2.0.0); the test
`test_preflight_flavour_choice_matches_im` runs IM's own function on the same flavours:
- disabled flavours are skipped;
- flavours are sorted by (price, PCI passthrough devices, vcpus, ram, disk); libcloud gives
  OpenStack flavours no price, so the order is by PCI devices, then the smallest;
- the first with vcpus >= cpus, ram (MiB) >= memory ('M'), disk >= the free disk asked
  (0 when a boot volume size is set, else IM's MINMUM_DISK_SIZE of 5) wins;
- GPU roles need a flavour IM recognises as GPU (`guess_instance_type_gpu`): an extra spec
  whose key contains 'gpu' with a true value, or EGI's `Accelerator:Type=GPU` with enough
  `Accelerator:Number` and the same `Accelerator:Vendor`;
- a named instance type must match the flavour name (or a `*` wildcard).
IM reads extra specs with one call per flavour; here they come with the listing (Nova
microversion 2.61), so the choice costs one request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from oscar_iac.preflight.needs import RoleRequest

MINIMUM_DISK_GB = 5  # IM's OpenStackCloudConnector.MINMUM_DISK_SIZE


@dataclass(frozen=True)
class FlavourInfo:
    id: str
    name: str
    vcpus: int
    ram_mib: int
    disk_gb: int
    extra_specs: dict[str, str] = field(default_factory=dict)
    disabled: bool = False

    @property
    def pci_devices(self) -> int:
        alias = self.extra_specs.get("pci_passthrough:alias")
        if not alias:
            return 0
        total = 0
        for device in alias.split(","):
            parts = device.split(":")
            if len(parts) > 1:
                if parts[1] and parts[1].isnumeric():
                    total += int(parts[1])
            else:
                total += 1
        return total

    @property
    def gpu_label(self) -> str:
        if self.extra_specs.get("Accelerator:Type") == "GPU":
            n = self.extra_specs.get("Accelerator:Number", "?")
            return f", {n} {self.extra_specs.get('Accelerator:Vendor', '')} GPU".rstrip()
        return ""

    def describe(self) -> str:
        return f"{self.name} ({self.vcpus} vCPU, {self.ram_mib} MiB, {self.disk_gb} GB{self.gpu_label})"


def _false(value: str) -> bool:
    return value.lower() in ("false", "no", "0")


def gpu_fits(f: FlavourInfo, gpus: int, vendor: str | None) -> bool:
    for key, value in f.extra_specs.items():
        if "gpu" in key.lower() and not _false(str(value)):
            return True
    spec = f.extra_specs
    if spec.get("Accelerator:Type") != "GPU":
        return False
    number = spec.get("Accelerator:Number")
    if not number or float(number) < gpus:
        return False
    if vendor:
        have = spec.get("Accelerator:Vendor")
        if not have or have.lower() != vendor.lower():
            return False
    return True


def pick(flavours: list[FlavourInfo], req: RoleRequest) -> FlavourInfo | None:
    disk_free = 0 if req.boot_volume_gb else MINIMUM_DISK_GB
    ordered = sorted(
        (f for f in flavours if not f.disabled),
        key=lambda f: (f.pci_devices, f.vcpus, f.ram_mib, f.disk_gb),
    )
    for f in ordered:
        if req.gpus and not gpu_fits(f, req.gpus, req.gpu_vendor):
            continue
        if f.vcpus < req.cpus or f.ram_mib < req.memory_mb or f.disk_gb < disk_free:
            continue
        if not req.instance_type or f.name == req.instance_type:
            return f
        if "*" in req.instance_type:
            pattern = re.escape(req.instance_type).replace("\\*", ".*")
            if re.match(pattern, f.name):
                return f
    return None


def near_misses(flavours: list[FlavourInfo], req: RoleRequest, n: int = 3) -> list[FlavourInfo]:
    """The largest flavours, to say what the site offers when nothing fits."""
    usable = [f for f in flavours if not f.disabled]
    if req.gpus:
        usable = [f for f in usable if gpu_fits(f, req.gpus, req.gpu_vendor)] or usable
    return sorted(usable, key=lambda f: (f.vcpus, f.ram_mib), reverse=True)[:n]


def units_trap(flavours: list[FlavourInfo], req: RoleRequest, chosen: FlavourInfo | None) -> str:
    """A note when IM skips a flavour of exactly the size asked because it compares the
    flavour's MiB with the request in MB (10**6 bytes): '8 GiB' is 8590 MB > 8192 MiB."""
    if req.instance_type or not req.memory_mb:
        return ""
    skipped = [
        f
        for f in flavours
        if not f.disabled
        and f.vcpus >= req.cpus
        and f.ram_mib < req.memory_mb <= f.ram_mib * 2**20 // 10**6 + 1
        and (chosen is None or f.ram_mib < chosen.ram_mib)
    ]
    if not skipped:
        return ""
    f = min(skipped, key=lambda x: (x.vcpus, x.ram_mib))
    return (
        f"IM compares the flavour's {f.ram_mib} MiB with {req.memory_mb} MB, so {f.name} does "
        f"not fit; memory: '{f.ram_mib * 2**20 // 10**9} GB' would take it"
    )
