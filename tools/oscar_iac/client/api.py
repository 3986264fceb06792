"""The Client: models by name, synchronous predictions, asynchronous jobs, their logs."""

from __future__ import annotations

import io
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import requests
from oscar_python.client import Client as OscarPython

from oscar_iac.client.credentials import BasicAuth, find_token
from oscar_iac.client.envelope import DEFAULT_INPUT_ARG, decode_answer, envelope
from oscar_iac.client.jobs import Job, JobInfo
from oscar_iac.errors import DeploymentError, Problem, UserError
from oscar_iac.im.tokens import Token
from oscar_iac.naming import service_name
from oscar_iac.runner.service import StoragePath, from_definition
from oscar_iac.runner.storage import MinioStorage

MINIO_ENV = ("OSCAR_IAC_MINIO_ENDPOINT", "OSCAR_IAC_MINIO_ACCESS_KEY", "OSCAR_IAC_MINIO_SECRET_KEY")


def _http(exc: requests.RequestException, what: str) -> Exception:
    resp = getattr(exc, "response", None)
    if resp is None:
        return DeploymentError(f"cannot reach OSCAR to {what}: {exc}")
    text = resp.text[:300]
    if resp.status_code in (400, 401, 403, 404):
        return UserError(f"OSCAR refused to {what} ({resp.status_code}): {text}")
    return DeploymentError(f"OSCAR failed to {what} ({resp.status_code}): {text}")


class Client:
    """A client of one OSCAR cluster, on top of oscar-python's Client.

    Credentials: `user` + `password` (Basic auth), else an OIDC access token (see
    oscar_iac.client.credentials for where it is looked for). MinIO: `minio`, else
    OSCAR_IAC_MINIO_ENDPOINT/_ACCESS_KEY/_SECRET_KEY, else what OSCAR's /system/config
    says (the cluster's MinIO and this user's keys).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        oidc_agent_account: str | None = None,
        notebooks_file: str | None = None,
        minio: MinioStorage | None = None,
        verify_tls: bool = True,
        timeout: float = 300.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        # This client's choice, for OSCAR and for MinIO alike: never the server's.
        self.verify_tls = verify_tls
        self._token: Token | None = None
        options: dict[str, Any] = {"cluster_id": "oscar", "endpoint": self.endpoint}
        options["ssl"] = verify_tls
        if user or password:
            if not (user and password):
                raise UserError("Basic auth needs both user and password")
            self._basic: BasicAuth | None = BasicAuth(user, password)
            options |= {"user": user, "password": password}
        else:
            self._basic = None
            self._token = find_token(
                token, oidc_agent_account=oidc_agent_account, notebooks_file=notebooks_file
            )
            options["oidc_token"] = self._token.value
        self._oscar = OscarPython(options)
        self._minio_access = minio
        self._services: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_site(
        cls, site: str | Path, *, endpoint: str | None = None, user: str | None = None, **kw: Any
    ) -> Client:
        """The OSCAR of a deployed site: endpoint from its deployment state (or `endpoint`),
        user from the site file, password from OSCAR_PASSWORD or the site's secret."""
        # The site model (pydantic) only when a site is named: `Client(url, ...)` stays light.
        from oscar_iac.oscar import connection_for
        from oscar_iac.site import load_site

        loaded = load_site(Path(site), check_secrets=False)
        conn = connection_for(loaded, endpoint, user, "models plan")
        return cls(conn.url, user=conn.username, password=conn.password, **kw)

    @classmethod
    def from_env(cls, **kw: Any) -> Client:
        """OSCAR_ENDPOINT, and OSCAR_USER + OSCAR_PASSWORD or a token (see credentials)."""
        endpoint = os.environ.get("OSCAR_ENDPOINT")
        if not endpoint:
            raise UserError("set OSCAR_ENDPOINT to the OSCAR cluster's URL")
        user, password = os.environ.get("OSCAR_USER"), os.environ.get("OSCAR_PASSWORD")
        if user and password:
            return cls(endpoint, user=user, password=password, **kw)
        return cls(endpoint, **kw)

    # -- plumbing -------------------------------------------------------------------
    def _fresh(self) -> OscarPython:
        if self._token is not None:
            self._oscar.oidc_token = self._token.fresh()
        return self._oscar

    def service(self, model: str) -> dict[str, Any]:
        """The OSCAR service definition behind a model (catalog module id or service name)."""
        name = service_name(model)
        if name not in self._services:
            try:
                resp = self._fresh().get_service(name)
            except requests.HTTPError as exc:
                if exc.response is not None and exc.response.status_code == 404:
                    raise UserError(
                        Problem(
                            self.endpoint,
                            "model",
                            f"{model!r} (service {name!r}) is not registered on this OSCAR; "
                            "register it with: oscar-iac models apply SITE",
                        )
                    ) from exc
                raise _http(exc, f"read service {name}") from exc
            except requests.RequestException as exc:
                raise _http(exc, f"read service {name}") from exc
            self._services[name] = resp.json()
        return self._services[name]

    def _invoke_token(self, svc: dict[str, Any]) -> str:
        return str(svc["token"]) if self._basic else self._fresh().oidc_token

    def minio(self) -> MinioStorage:
        if self._minio_access is None:
            endpoint, access, secret = (os.environ.get(n) for n in MINIO_ENV)
            if endpoint and access and secret:
                self._minio_access = MinioStorage(endpoint, access, secret, self.verify_tls)
            else:
                try:
                    cfg = self._fresh().get_cluster_config().json()
                except requests.RequestException as exc:
                    raise _http(exc, "read the cluster's MinIO settings") from exc
                mp = cfg.get("minio_provider") or {}
                if not mp.get("endpoint"):
                    raise DeploymentError(
                        "OSCAR's /system/config names no MinIO",
                        hints=[f"set {', '.join(MINIO_ENV)}"],
                    )
                # OSCAR's `minio_provider.verify` says how OSCAR itself talks to its
                # MinIO; whether this client checks certificates is decided here.
                self._minio_access = MinioStorage(
                    mp["endpoint"], mp["access_key"], mp["secret_key"], self.verify_tls
                )
        return self._minio_access

    def _minio_path(self, model: str, which: str) -> StoragePath:
        svc = from_definition(self.service(model), self.endpoint, f"service {model}.")
        paths = svc.inputs if which == "input" else svc.outputs
        found = next((p for p in paths if p.provider.startswith("minio.")), None)
        if found is None:
            raise UserError(
                Problem(self.endpoint, f"{svc.name}.{which}", f"the service has no MinIO {which}")
            )
        return found

    # -- synchronous ----------------------------------------------------------------
    def predict(
        self,
        model: str,
        data: str | Path | dict[str, Any],
        timeout: float | None = None,
        **params: Any,
    ) -> Any:
        """Call the model through OSCAR's /run and return its prediction.

        `data` is an input file (sent in the AI4OS envelope under the model's input
        argument, DEEPAAS_INPUT_ARG) or a dict (the envelope's parameters; a full
        envelope with "oscar-files" works too). `params` are more model arguments.
        """
        svc = self.service(model)
        variables = (svc.get("environment") or {}).get("variables") or {}
        body = envelope(data, variables.get("DEEPAAS_INPUT_ARG", DEFAULT_INPUT_ARG), **params)
        try:
            resp = self._fresh().run_service(
                svc["name"],
                input=json.dumps(body),
                token=self._invoke_token(svc),
                timeout=timeout or self.timeout,
            )
        except requests.RequestException as exc:
            raise _http(exc, f"run {svc['name']}") from exc
        value = decode_answer(resp.text)
        if value is None:
            raise DeploymentError(
                f"{svc['name']} answered no prediction; its log:\n{resp.text[-2000:]}"
            )
        return value

    # -- asynchronous ---------------------------------------------------------------
    def submit(self, model: str, file: str | Path) -> Job:
        """Upload `file` to the model's MinIO input; OSCAR runs a job for it."""
        path = Path(file)
        if not path.is_file():
            raise UserError(Problem(path, "file", "no such file"))
        src, dst = self._minio_path(model, "input"), self._minio_path(model, "output")
        stem = f"{path.stem}-{secrets.token_hex(4)}"
        key = src.key(f"{stem}{path.suffix}")
        client = self.minio().client()
        data = path.read_bytes()
        client.put_object(src.bucket, key, io.BytesIO(data), len(data))
        return Job(
            model=model,
            service=service_name(model),
            input_bucket=src.bucket,
            input_key=key,
            output_bucket=dst.bucket,
            output_prefix=dst.key(stem),
            submitted=time.time(),
            _minio=client,
        )

    def jobs(self, model: str) -> list[JobInfo]:
        """The jobs OSCAR ran for the model, oldest first."""
        name = self.service(model)["name"]
        try:
            listing = self._fresh().list_jobs(name).json().get("jobs") or {}
        except requests.RequestException as exc:
            raise _http(exc, f"list the jobs of {name}") from exc
        infos = [
            JobInfo(
                name=job,
                status=str(info.get("status", "")),
                creation_time=str(info.get("creation_time", "")),
                start_time=str(info.get("start_time", "")),
                finish_time=str(info.get("finish_time", "")),
            )
            for job, info in listing.items()
        ]
        return sorted(infos, key=lambda j: (j.creation_time, j.name))

    def logs(self, model: str, job: str | JobInfo) -> str:
        """One job's log."""
        name = self.service(model)["name"]
        job_name = job.name if isinstance(job, JobInfo) else job
        try:
            return str(self._fresh().get_job_logs(name, job_name).text)
        except requests.RequestException as exc:
            raise _http(exc, f"read the log of {name}/{job_name}") from exc
