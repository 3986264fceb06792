"""The kernel settings a kubelet changes on its machine, saved before it starts and put back
after, so that a test run leaves the machine's kernel as it found it.

kubelet v1.37.2 pkg/kubelet/cm/container_manager_linux.go `setupKernelTunables` sets these
six (values in k8s.io/component-helpers v0.37.2 node/util/sysctl/sysctl.go) unless
protectKernelDefaults is on, which makes it refuse to start instead:
vm.overcommit_memory=1, vm.panic_on_oom=0, kernel.panic=10, kernel.panic_on_oops=1,
kernel.keys.root_maxkeys=1000000, kernel.keys.root_maxbytes=25000000. Left behind, the
machine would reboot 10 s after any kernel oops, and never refuse memory again.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

SYSCTL = Path("/proc/sys")
KUBELET_SETS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}


def save() -> dict[str, str]:
    """The current value of each setting the kubelet changes (the ones readable here)."""
    saved = {}
    for key in KUBELET_SETS:
        with contextlib.suppress(OSError):
            saved[key] = (SYSCTL / key).read_text().strip()
    return saved


def restore(saved: dict[str, str]) -> dict[str, str]:
    """Write back what `save` read where it changed; returns what could not be written."""
    failed = {}
    for key, value in saved.items():
        path = SYSCTL / key
        try:
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
        except OSError as e:
            failed[key] = str(e)
    return failed
