"""The container engine of the local runner: podman, with the settings that work here.

Environment values never appear on podman's command line: they go through an env
file (mode 0600, in a private folder, removed afterwards); a value with a line break
(which env files cannot hold) is passed as `--env NAME` with the value in podman's
own environment.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from oscar_iac.errors import DeploymentError

# runc: crun refuses the cgroups v1/hybrid hosts; root without CAP_SYS_RESOURCE cannot
# raise the default ulimits (see the podman notes of this project).
DEFAULT_OPTIONS = (
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=20000:20000",
    "--ulimit",
    "nproc=32768:32768",
)


@dataclass(frozen=True)
class Mount:
    host: Path
    container: str
    read_only: bool = False

    def option(self) -> str:
        return f"{self.host}:{self.container}" + (":ro" if self.read_only else "")


@dataclass(frozen=True)
class Container:
    image: str
    command: tuple[str, ...]
    entrypoint: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    mounts: tuple[Mount, ...] = ()
    cpus: str | None = None
    memory: str | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class Finished:
    exit_code: int
    output: str  # stdout and stderr, interleaved as the supervisor reads them


@dataclass
class Podman:
    binary: str | None = None
    options: tuple[str, ...] = DEFAULT_OPTIONS

    def __post_init__(self) -> None:
        if self.binary is None:
            self.binary = shutil.which("podman")

    def _bin(self) -> str:
        if not self.binary:
            raise DeploymentError(
                "podman is not installed: the local runner runs services in podman containers",
                hints=["apt-get install -y podman runc (or: make system-deps)"],
            )
        return self.binary

    def image_exists(self, image: str) -> bool:
        proc = subprocess.run(
            [self._bin(), "image", "exists", image], capture_output=True, text=True, check=False
        )
        return proc.returncode == 0

    def require_image(self, image: str) -> None:
        if not self.image_exists(image):
            hints = [f"podman pull {image}  (or build it: podman build -t {image} ...)"]
            if image.startswith("localhost/oscar-iac-runner-demo"):
                hints.insert(0, "bash tests/images/build-runner-image.sh")
            raise DeploymentError(f"container image {image} is not on this machine", hints=hints)

    def run(self, spec: Container) -> Finished:
        with tempfile.TemporaryDirectory(prefix="oscar-iac-env-") as private:
            os.chmod(private, 0o700)
            env_file = Path(private) / "env"
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            child_env = dict(os.environ)
            multiline: list[str] = []
            with os.fdopen(fd, "w") as fh:
                for name, value in spec.env.items():
                    if "\n" in value or "\r" in value:
                        multiline.append(name)
                        child_env[name] = value
                    else:
                        fh.write(f"{name}={value}\n")
            name = f"oscar-iac-run-{secrets.token_hex(6)}"
            argv = [self._bin(), "run", "--rm", "--name", name, *self.options]
            argv += ["--env-file", str(env_file)]
            for var in multiline:
                argv += ["--env", var]
            for mount in spec.mounts:
                argv += ["--volume", mount.option()]
            if spec.cpus:
                argv += ["--cpus", spec.cpus]
            if spec.memory:
                argv += ["--memory", spec.memory]
            if spec.entrypoint is not None:
                argv += ["--entrypoint", spec.entrypoint]
            argv += [spec.image, *spec.command]
            try:
                proc = subprocess.run(
                    argv,
                    env=child_env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=spec.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                subprocess.run([self._bin(), "rm", "-f", name], capture_output=True, check=False)
                raise DeploymentError(
                    f"the container of {spec.image} did not finish within {spec.timeout} s"
                ) from exc
        return Finished(proc.returncode, proc.stdout.decode("utf-8", errors="replace"))
