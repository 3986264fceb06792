"""One invocation of a service, as OSCAR's FaaS supervisor performs it, in podman.

The supervisor (faas-supervisor's binary mode) makes a temporary input and output
folder (TMP_INPUT_DIR, TMP_OUTPUT_DIR), puts the input there (the storage event's
object, or the request body for any other event) and names it in INPUT_FILE_PATH,
sets STORAGE_OBJECT_KEY/EVENT_TIME/EVENT for storage events, runs
`/bin/sh /oscar/config/script.sh` (stdout and stderr together) in the service's image
with the service's environment variables, then uploads what the script left in
TMP_OUTPUT_DIR. A synchronous call answers with that output base64-encoded (a zip of
it when there are several files), or with the script's log when there is none.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.runner import events
from oscar_iac.runner.podman import Container, Mount, Podman
from oscar_iac.runner.service import Service
from oscar_iac.runner.storage import MinioStorage

CONFIG_DIR = "/oscar/config"
SCRIPT = f"{CONFIG_DIR}/script.sh"
FDL_FILE = "function_config.yaml"
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_UNITS |= {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


@dataclass(frozen=True)
class Invocation:
    """What reaches the supervisor: a request body (/run, /job), or a local file that
    stands for an object uploaded to the service's MinIO input (a storage event)."""

    service: Service
    body: bytes | None = None
    input_file: Path | None = None
    job_uuid: str | None = None
    image: str | None = None  # overrides the service's image
    timeout: float = 900.0


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    log: str  # what the script printed (stdout and stderr)
    outputs: dict[str, bytes] = field(repr=False)  # TMP_OUTPUT_DIR, by relative name
    event: events.StorageEvent | events.UnknownEvent = field(repr=False)
    uploaded: tuple[str, ...] = ()

    def response(self) -> bytes:
        """What a synchronous call answers (faas-supervisor's create_response)."""
        if len(self.outputs) == 1:
            return base64.b64encode(next(iter(self.outputs.values())))
        if self.outputs:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as zf:
                for name, data in sorted(self.outputs.items()):
                    zf.writestr(name, data)
            return base64.b64encode(buf.getvalue())
        return self.log.encode()


def k8s_quantity(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9.]+)\s*(m|[KMGT]i?)?\s*", text)
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number, unit = float(m.group(1)), m.group(2) or ""
    return number / 1000 if unit == "m" else number * _UNITS[unit]


def _limits(service: Service) -> tuple[str | None, str | None]:
    try:
        cpus = f"{k8s_quantity(service.cpu):g}" if service.cpu else None
        memory = f"{int(k8s_quantity(service.memory))}b" if service.memory else None
    except ValueError as exc:
        raise UserError(Problem(service.name, "cpu/memory", str(exc))) from exc
    return cpus, memory


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stage_input(
    inv: Invocation, in_dir: Path, storage: MinioStorage | None
) -> tuple[events.StorageEvent | events.UnknownEvent, Path]:
    svc = inv.service
    if inv.input_file is not None:
        if not inv.input_file.is_file():
            raise UserError(Problem(inv.input_file, "--input", "no such file"))
        target = svc.minio_input()
        bucket, folder = (target.bucket, target.folder) if target else (svc.name, "in")
        key = f"{folder}/{inv.input_file.name}" if folder else inv.input_file.name
        raw = events.minio_event(bucket, key, inv.input_file.stat().st_size, _now())
        event: events.StorageEvent | events.UnknownEvent = events.StorageEvent(
            bucket, key, raw["Records"][0]["eventTime"], raw
        )
        dest = in_dir / inv.input_file.name
        shutil.copyfile(inv.input_file, dest)
        return event, dest
    event = events.parse(inv.body or b"")
    if isinstance(event, events.StorageEvent):
        if storage is None:
            raise DeploymentError(
                f"a storage event for {event.bucket}/{event.key} needs the cluster's MinIO"
            )
        dest = in_dir / event.file_name
        storage.download(event.bucket, event.key, dest)
        return event, dest
    dest = in_dir / event.file_name
    dest.write_bytes(event.data)
    return event, dest


def _environment(
    inv: Invocation,
    event: events.StorageEvent | events.UnknownEvent,
    input_path: str,
    tmp_in: str,
    tmp_out: str,
) -> dict[str, str]:
    env = dict(inv.service.variables)
    env |= {"TMP_INPUT_DIR": tmp_in, "TMP_OUTPUT_DIR": tmp_out, "INPUT_FILE_PATH": input_path}
    if isinstance(event, events.StorageEvent):
        env |= {
            "STORAGE_OBJECT_KEY": event.key,
            "EVENT_TIME": event.event_time,
            "EVENT": json.dumps(event.raw),
        }
    elif inv.job_uuid is not None:
        env["EVENT"] = (inv.body or b"").decode("utf-8", errors="replace")
    if inv.job_uuid is not None:
        env["JOB_UUID"] = inv.job_uuid
    return env


def run_invocation(
    inv: Invocation,
    podman: Podman | None = None,
    *,
    storage: MinioStorage | None = None,
    upload: bool = False,
) -> RunResult:
    """Run one invocation; with `upload`, send the outputs to the service's MinIO output."""
    podman = podman or Podman()
    image = inv.image or inv.service.image
    podman.require_image(image)
    cpus, memory = _limits(inv.service)
    work = Path(tempfile.mkdtemp(prefix="oscar-iac-run-"))
    try:
        config, in_dir, out_dir = work / "config", work / "in", work / "out"
        for d in (config, in_dir, out_dir):
            d.mkdir()
        os.chmod(out_dir, 0o777)  # the image's user, whoever it is, writes here
        (config / "script.sh").write_text(inv.service.script)
        (config / FDL_FILE).write_text(yaml.safe_dump(inv.service.definition, sort_keys=False))
        event, input_path = _stage_input(inv, in_dir, storage)
        tmp_in, tmp_out = f"/tmp/tmp{secrets.token_hex(4)}", f"/tmp/tmp{secrets.token_hex(4)}"
        env = _environment(inv, event, f"{tmp_in}/{input_path.name}", tmp_in, tmp_out)
        finished = podman.run(
            Container(
                image=image,
                entrypoint="/bin/sh",
                command=(SCRIPT,),
                env=env,
                mounts=(
                    Mount(config, CONFIG_DIR, read_only=True),
                    Mount(in_dir, tmp_in),
                    Mount(out_dir, tmp_out),
                ),
                cpus=cpus,
                memory=memory,
                timeout=inv.timeout,
            )
        )
        files = {str(p.relative_to(out_dir)): p for p in sorted(out_dir.rglob("*")) if p.is_file()}
        uploaded: list[str] = []
        if upload:  # like the supervisor: whatever the script left, whatever its exit code
            if storage is None:
                raise DeploymentError("uploading outputs needs the cluster's MinIO")
            uploaded = storage.upload_outputs(inv.service, files)
        return RunResult(
            exit_code=finished.exit_code,
            log=finished.output,
            outputs={name: p.read_bytes() for name, p in files.items()},
            event=event,
            uploaded=tuple(uploaded),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
