"""Typed site description: what `inventories/<site>/site.yml` may say.

Every model forbids unknown keys, so a typo is an error that names the field.
Secrets are never values here: they are `SecretRef` strings (`env:NAME`,
`file:PATH`, `vault:FILE#KEY`, `generate`), resolved only when needed.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from oscar_iac.naming import OSCAR_SERVICE_NAME_MAX, SERVICE_NAME_RE
from oscar_iac.secrets import SecretRef
from oscar_iac.site.fields import (
    CPUS_MAX,
    DNS_LABEL_RE,
    GPUS_MAX,
    REPLICAS_MAX,
    SIZE_MAX,
    SIZE_MIN,
    WORKERS_MAX,
    Affix,
    DnsDomain,
    DnsLabel,
    Email,
    Host,
    HttpUrl,
    Port,
    PosixUser,
    SitePath,
    Size,
    Text,
    Timeout,
    UrlText,
    Word,
    check_dns_domain,
    check_dns_label,
    check_size,
    check_url_text,
    size_to_bytes,
)

__all__ = ["DNS_LABEL_RE", "SIZE_MAX", "SIZE_MIN", "size_to_bytes"]

# The checks moved to fields.py; these names stay importable from here.
_check_size = check_size
_check_dns_label = check_dns_label
_check_dns_domain = check_dns_domain


# Where EGI Notebooks mounts the user's access token (a fixed path of that service):
# the one token file outside the site folder a site may name.
NOTEBOOKS_FILE = "/var/run/secrets/egi.eu/access_token"

# A role variable's name: a role prefix is checked by site.rules.
RoleVarName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,127}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# --------------------------------------------------------------------------- target


class LocalCloud(Strict):
    """The embedded Infrastructure Manager with its Dummy cloud: no VMs, no credentials."""

    kind: Literal["local"]


class EgiCloud(Strict):
    """An EGI Federated Cloud site, reached through IM's EGI connector."""

    kind: Literal["egi"]
    site: Word = Field(description="EGI site name, e.g. 'IFCA-LCG2'")
    vo: Word = Field(description="Virtual organisation, e.g. 'vo.access.egi.eu'")
    # Project id on that site; discovered with fedcloudclient (site + VO) when absent.
    project_id: Word | None = None
    region: Word | None = None


class OpenStackCloud(Strict):
    """A plain OpenStack cloud."""

    kind: Literal["openstack"]
    auth_url: HttpUrl
    project: Word = Field(description="project (tenant) id or name")
    region: Word | None = None
    # Keystone user name; with 'oidc' auth the access token is the password.
    username: Word = "egi.eu"
    auth: Literal["oidc", "password"] = "oidc"
    password: SecretRef | None = None
    domain: Word | None = None

    @model_validator(mode="after")
    def _password_needs_ref(self) -> OpenStackCloud:
        if self.auth == "password" and self.password is None:
            raise ValueError(
                "auth 'password' needs 'password' (a secret reference such as env:OS_PASSWORD)"
            )
        return self


class Machine(Strict):
    """A machine you already have, reached over SSH by a login user with sudo."""

    name: DnsLabel
    # What IM connects to over SSH (port 22): an IP address or a DNS name.
    address: Host
    # Login user and private key; default: the cloud's `user` / `key`.
    user: PosixUser | None = None
    key: SecretRef | None = None


class NodesCloud(Strict):
    """Existing machines, contextualized by IM's DeployedNode connector (IM creates and
    destroys nothing: `down` ends IM's record and leaves the machines running)."""

    kind: Literal["nodes"]
    # Login user with sudo on every machine (key-only SSH login).
    user: PosixUser = "debian"
    # Its private key, as a secret reference (env:, file: or vault:), for every machine.
    key: SecretRef | None = None
    front: Machine = Field(description="the front machine")
    # The workers; `cluster.workers.count` says how many of them (first ones) are used:
    # list spares and `oscar-iac scale --workers N` adds them.
    workers: list[Machine] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _front_name(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("front"), dict):
            data = {**data, "front": {"name": "front", **data["front"]}}
        return data

    @model_validator(mode="after")
    def _keys(self) -> NodesCloud:
        for m in (self.front, *self.workers):
            key = m.key or self.key
            if key is None:
                raise ValueError(
                    f"machine {m.name!r} has no SSH key: set 'key' (e.g. file:~/.ssh/id_ed25519) "
                    "on the machine or on the cloud"
                )
            if key == "generate":
                raise ValueError(f"the SSH key of machine {m.name!r} cannot be 'generate'")
        return self

    def machines(self, workers: int | None = None) -> list[Machine]:
        """The front and the first `workers` workers (all listed when None)."""
        return [self.front, *self.workers[: len(self.workers) if workers is None else workers]]


Cloud = Annotated[LocalCloud | EgiCloud | OpenStackCloud | NodesCloud, Field(discriminator="kind")]


class TokenSource(Strict):
    """Where an EGI Check-in access token comes from, tried in this order."""

    env: Word = "EGI_ACCESS_TOKEN"
    oidc_agent_account: Word | None = None
    fedcloud: bool = True
    notebooks_file: SitePath = NOTEBOOKS_FILE


def is_loopback(host: str | None) -> bool:
    """True for 'localhost' and loopback addresses (127.0.0.0/8, ::1)."""
    host = (host or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ImTarget(Strict):
    """Provision through the Infrastructure Manager."""

    kind: Literal["im"]
    # 'embedded' starts a real local IM server; otherwise the IM REST endpoint.
    endpoint: Literal["embedded"] | HttpUrl = "embedded"
    cloud: Cloud
    token: TokenSource = TokenSource()
    # Off: the IM's certificate is not checked (a warning says so on every command).
    verify_tls: bool = True

    @field_validator("endpoint")
    @classmethod
    def _https_unless_loopback(cls, v: str | HttpUrl) -> str | HttpUrl:
        # Every request carries the cloud credentials (e.g. the Check-in token).
        if not isinstance(v, str) and v.scheme == "http" and not is_loopback(v.host):
            raise ValueError(
                f"plain http:// would send the access token unencrypted to {v.host}; "
                "expected an https:// IM endpoint (http:// only for a loopback IM)"
            )
        return v


class HostSpec(Strict):
    name: DnsLabel
    address: Host = Field(description="IP address or DNS name reachable over SSH")
    user: PosixUser = "root"
    port: Port = 22


class HostsTarget(Strict):
    """Provision existing hosts with ansible-playbook (the same roles IM runs)."""

    kind: Literal["hosts"]
    front: HostSpec
    workers: list[HostSpec] = Field(default_factory=list)
    ssh_private_key: SecretRef | None = None
    become: bool = True


class OscarTarget(Strict):
    """An OSCAR cluster that already exists (run by your infrastructure): `up` checks it
    answers, registers the models, wires the events and runs the smoke test."""

    kind: Literal["oscar"]
    endpoint: HttpUrl
    # basic: OSCAR's user + password; token: an EGI Check-in access token (OIDC).
    auth: Literal["basic", "token"] = "basic"
    username: Word = "oscar"
    password: SecretRef | None = None
    token: TokenSource = TokenSource()
    verify_tls: bool = True

    @model_validator(mode="after")
    def _password_for_basic(self) -> OscarTarget:
        if self.auth == "basic" and self.password is None:
            raise ValueError(
                "auth 'basic' needs 'password' (a secret reference such as env:OSCAR_PASSWORD)"
            )
        return self


Target = Annotated[ImTarget | HostsTarget | OscarTarget, Field(discriminator="kind")]


# --------------------------------------------------------------------------- cluster


class Flavour(Strict):
    """VM size: either cpus/memory/disk (IM picks a matching flavour) or an instance type."""

    cpus: int = Field(default=2, ge=1, le=CPUS_MAX)
    memory: Size = "4 GiB"
    disk: Size = "20 GiB"
    instance_type: Word | None = None


class Workers(Flavour):
    count: int = Field(default=1, ge=0, le=WORKERS_MAX)


class GpuWorkers(Flavour):
    count: int = Field(default=0, ge=0, le=WORKERS_MAX)
    gpus: int = Field(default=1, ge=1, le=GPUS_MAX)
    gpu_vendor: Literal["nvidia"] = "nvidia"


class OsImage(Strict):
    # IM image URL, e.g. on EGI 'egi://SITE/egi_vm_images/ubuntu:22.04?VO' (IM 2.0's
    # FedcloudInfo.get_image_data), or 'ost://HOST/IMAGE-ID' on OpenStack; None: any
    # image of that distribution.
    url: UrlText | None = None
    distribution: Word = "ubuntu"
    version: Word = "22.04"


class Cluster(Strict):
    name: DnsLabel
    domain: DnsDomain
    front: Flavour = Flavour(cpus=4, memory="8 GiB", disk="50 GiB")
    workers: Workers = Workers()
    gpu_workers: GpuWorkers = GpuWorkers()
    image: OsImage = OsImage()

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.domain}"

    @model_validator(mode="after")
    def _fqdn_fits(self) -> Cluster:
        # 'console-minio.' is the longest prefix the stack puts before the cluster name.
        if len("console-minio.") + len(self.fqdn) > 253:
            raise ValueError("cluster name + domain make DNS names longer than 253 characters")
        return self


# --------------------------------------------------------------------------- stack


class Kubernetes(Strict):
    # The version is the one pinned in versions.yml (with its checksums): to upgrade,
    # change it there and run playbooks/upgrade.yml.
    flavour: Literal["k3s"] = "k3s"
    ha: bool = False
    # The shared secret k3s agents join the cluster with.
    token: SecretRef = SecretRef("generate")


class Oscar(Strict):
    # OSCAR manager image tag; None: the one pinned in versions.yml. OSCAR's release
    # images carry no "v" (its release workflow tags ${GITHUB_REF#refs/tags/v}).
    version: Word | None = None
    username: Word = "oscar"
    password: SecretRef = SecretRef("generate")
    # Image prefixes users may deploy (empty: any).
    allowed_image_prefixes: list[Word] = Field(default_factory=list)

    @field_validator("version")
    @classmethod
    def _no_v(cls, v: str | None) -> str | None:
        if v is not None and re.match(r"^v[0-9]", v):
            raise ValueError(
                f"OSCAR's images are tagged without the 'v' (ghcr.io/grycap/oscar:{v[1:]}); got {v!r}"
            )
        return v


class Minio(Strict):
    access_key: Word = "minio"
    secret_key: SecretRef = SecretRef("generate")


class Storage(Strict):
    """RWX storage for OSCAR's supervisor volume: NFS on the front node."""

    nfs: bool = True
    size: Size = "50 GiB"
    storage_class: Affix = "nfs"


class Tls(Strict):
    mode: Literal["none", "self-signed", "letsencrypt"] = "none"
    email: Email | None = None

    @model_validator(mode="after")
    def _letsencrypt_email(self) -> Tls:
        if self.mode == "letsencrypt" and not self.email:
            raise ValueError("tls mode 'letsencrypt' needs 'email' for the ACME account")
        return self


class Ingress(Strict):
    enabled: bool = True
    tls: Tls = Tls()


class Toggle(Strict):
    enabled: bool = False


class Nifi(Strict):
    enabled: bool = False
    username: Word = "oscar-iac"
    # NiFi's single-user password (NiFi wants 12 characters or more).
    password: SecretRef = SecretRef("generate")


class Oidc(Strict):
    enabled: bool = False
    issuers: list[HttpUrl] = Field(default_factory=list)
    # EGI VOs (entitlement groups) whose members may use the cluster.
    allowed_vos: list[Word] = Field(default_factory=list)

    @model_validator(mode="after")
    def _issuer_needed(self) -> Oidc:
        if self.enabled and not self.issuers:
            raise ValueError("oidc is enabled but 'issuers' is empty")
        return self


class Stack(Strict):
    kubernetes: Kubernetes = Kubernetes()
    oscar: Oscar = Oscar()
    minio: Minio = Minio()
    storage: Storage = Storage()
    ingress: Ingress = Ingress()
    # OSCAR's synchronous /run needs Knative Serving.
    knative: Toggle = Toggle(enabled=True)
    # NiFi carries dCache storage events to OSCAR.
    nifi: Nifi = Nifi()
    oidc: Oidc = Oidc()
    # Role variables handed to the roles as they are, after the site's own (advanced;
    # see each role's README). Each key starts with a role's prefix, e.g.
    # `k3s_state: configured` to write k3s' configuration without downloading k3s.
    role_vars: dict[RoleVarName, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- models and events


class ModelOverrides(Strict):
    memory: Size | None = None
    cpu: float | None = Field(default=None, gt=0, le=CPUS_MAX, allow_inf_nan=False)
    gpu: bool | None = None
    replicas: int | None = Field(default=None, ge=0, le=REPLICAS_MAX)
    environment: dict[Word, str] = Field(default_factory=dict)

    @field_validator("memory")
    @classmethod
    def _mem(cls, v: str | None) -> str | None:
        return None if v is None else _check_size(v)


class ModelSpec(Strict):
    """A catalog model to register as an OSCAR service."""

    # Catalog module id, e.g. 'ai4os-demo-app'.
    module: Word
    # OSCAR service name; derived from the module when absent.
    service: str | None = None
    mode: Literal["sync", "async", "both"] = "both"
    dcache_input: bool = False
    overrides: ModelOverrides = ModelOverrides()

    @field_validator("service")
    @classmethod
    def _service_name(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if len(v) > OSCAR_SERVICE_NAME_MAX:
            raise ValueError(
                f"OSCAR service names are at most {OSCAR_SERVICE_NAME_MAX} characters; "
                f"{v!r} has {len(v)}"
            )
        if not SERVICE_NAME_RE.fullmatch(v):
            raise ValueError(
                f"expected lowercase letters, digits and '-' for a service name; got {v!r}"
            )
        return v


class Catalog(Strict):
    """Where model metadata comes from."""

    source: Literal["api", "git", "folder"] = "api"
    # API base URL, git URL or folder path, by source.
    location: SitePath = "https://api.cloud.ai4eosc.eu/v1/catalog"

    @field_validator("location")
    @classmethod
    def _url_without_userinfo(cls, v: str) -> str:
        return check_url_text(v) if "://" in v else v


# S3 bucket names as MinIO's client checks them (minio-go pkg/s3utils/utils.go,
# CheckValidBucketNameStrict): 3-63 of [a-z0-9.-], starting and ending with a letter or
# digit, no '..', '.-' or '-.', and not an IPv4 address.
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _check_bucket(value: str) -> str:
    if (
        not BUCKET_RE.fullmatch(value)
        or any(bad in value for bad in ("..", ".-", "-."))
        or re.match(r"^(\d+\.){3}\d+$", value)
    ):
        raise ValueError(
            "expected an S3 bucket name: 3-63 lowercase letters, digits, '.' and '-', "
            f"starting and ending with a letter or digit, not an IP address; got {value[:80]!r}"
        )
    return value


class MinioEventSource(Strict):
    kind: Literal["minio"]
    name: DnsLabel
    endpoint: HttpUrl
    access_key: Word
    secret_key: SecretRef
    bucket: str
    prefix: Affix = ""
    suffix: Affix = ""
    service: Word
    verify_tls: bool = True

    _v_bucket = field_validator("bucket")(_check_bucket)

    @field_validator("secret_key")
    @classmethod
    def _existing(cls, v: SecretRef) -> SecretRef:
        if v == "generate":
            raise ValueError(
                "an external MinIO already has its secret key; use env:, file: or vault:"
            )
        return v


class DcacheEventSource(Strict):
    kind: Literal["dcache"]
    name: DnsLabel
    # dCache frontend, e.g. https://dcache.example.org:3880
    frontend: HttpUrl
    webdav: HttpUrl
    path: Annotated[SitePath, Field(pattern=r"^/")]
    recursive: bool = False
    auth: Literal["basic", "oidc", "macaroon"] = "oidc"
    username: Word | None = None
    credential: SecretRef
    service: Word
    verify_tls: bool = True
    # How events reach OSCAR: 'nifi' (a NiFi flow runs the listener) or 'relay' (the
    # listener posts to /job itself: `oscar-iac events relay`, or the dcache_relay role's
    # systemd service on the front).
    via: Literal["nifi", "relay"] = "nifi"

    @field_validator("credential")
    @classmethod
    def _external(cls, v: SecretRef) -> SecretRef:
        if v == "generate":
            raise ValueError(
                "a dCache credential is issued by dCache or your IdP; use env:, file: or vault:"
            )
        return v

    @model_validator(mode="after")
    def _basic_user(self) -> DcacheEventSource:
        if self.auth == "basic" and not self.username:
            raise ValueError("auth 'basic' needs 'username'")
        return self


EventSource = Annotated[MinioEventSource | DcacheEventSource, Field(discriminator="kind")]


class Artifacts(Strict):
    """Where IM, the VMs and air-gapped hosts get this project's playbooks and downloads."""

    # What each VM fetches to run the roles: a git URL (optionally '#<ref>'), an https
    # tarball, or file:// (embedded IM and tests). None: this checkout, as file://.
    repo_url: UrlText | None = None
    # Base URL under which IM downloads the entry playbooks (<base>/playbooks/im/front.yml),
    # e.g. a raw-file URL of a release tag. None: this checkout, as file://.
    entry_url: UrlText | None = None
    # Air-gap: a local folder with every artifact (see `oscar-iac airgap`); None: online.
    airgap_dir: SitePath | None = None

    @field_validator("repo_url", "entry_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(https?|file|git\+https?|git\+ssh|ssh)://", v):
            raise ValueError(f"expected an https://, file:// or git URL; got {v!r}")
        return v


class Smoke(Strict):
    """The smoke test that ends `up`: one registered model called once."""

    # Catalog module (or service name) to call; default: the site's first model.
    model: Word | None = None
    # A sample input file for it (relative to the site folder). Without one, the smoke
    # test checks that the service is registered and says it called nothing.
    input: SitePath | None = None
    # sync: OSCAR's /run (needs Knative); async: through MinIO; auto: sync when possible.
    mode: Literal["auto", "sync", "async"] = "auto"
    timeout: Timeout = 600


class Site(Strict):
    """One site: a whole OSCAR platform described once."""

    name: DnsLabel
    description: Text = ""
    target: Target
    # Required for the im and hosts targets (see rules); an existing OSCAR (target
    # kind `oscar`) needs none.
    cluster: Cluster = Cluster(name="oscar", domain="oscar.localhost")
    stack: Stack = Stack()
    artifacts: Artifacts = Artifacts()
    catalog: Catalog = Catalog()
    models: list[ModelSpec] = Field(default_factory=list)
    events: list[EventSource] = Field(default_factory=list)
    smoke: Smoke = Smoke()
