"""Cross-field site rules (oscar_iac.site.rules), each Problem asserted whole: the file, the
field, the line and what is expected, in the words a user reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from oscar_iac.errors import UserError
from oscar_iac.site import load_site, rules
from oscar_iac.site.model import Site

REPO = Path(__file__).resolve().parents[2]


def _problems(folder: Path) -> list[str]:
    with pytest.raises(UserError) as err:
        load_site(folder)
    return [str(p) for p in err.value.problems]


def test_hosts_are_distinct_by_name_and_by_address_and_port(tmp_path: Path) -> None:
    """DNS names are case-insensitive and may end with the root's '.': 'Node.Example.ORG'
    and 'node.example.org.' are node.example.org; the same address on another SSH port is
    another machine."""
    text = (REPO / "inventories" / "hosts-example" / "site.yml").read_text()
    old_workers = (
        "    - {name: worker1, address: 192.0.2.11, user: debian}\n"
        "    - {name: worker2, address: 192.0.2.12, user: debian}\n"
    )
    assert old_workers in text and "workers: {count: 2" in text
    text = (
        text.replace(
            "front: {name: front, address: 192.0.2.10, user: debian}",
            "front: {name: front, address: node.example.org, user: debian}",
        )
        .replace(
            old_workers,
            "    - {name: worker1, address: Node.Example.ORG, user: debian}\n"
            "    - {name: worker1, address: 192.0.2.12, port: 2222, user: debian}\n"
            "    - {name: worker3, address: 192.0.2.12, port: 2222, user: debian}\n"
            "    - {name: front, address: 192.0.2.12, user: debian}\n"
            "    - {name: worker5, address: node.example.org., user: debian}\n",
        )
        .replace("workers: {count: 2", "workers: {count: 5")
    )
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "site.yml").write_text(text)
    first = text.splitlines().index(
        "    - {name: worker1, address: Node.Example.ORG, user: debian}"
    )
    f = f"{folder / 'site.yml'}"
    assert _problems(folder) == [
        f"{f}:{first + 1}: target.workers[0].address: 'Node.Example.ORG' is already the "
        "address of the front",
        f"{f}:{first + 2}: target.workers[1].name: 'worker1' is already the name of workers[0]",
        f"{f}:{first + 3}: target.workers[2].address: '192.0.2.12' is already the address of "
        "workers[1]",
        f"{f}:{first + 4}: target.workers[3].name: 'front' is already the name of the front",
        f"{f}:{first + 5}: target.workers[4].address: 'node.example.org.' is already the "
        "address of the front",
    ]


def _im_site(tmp_path: Path, endpoint: str) -> Path:
    text = (REPO / "inventories" / "egi-example" / "site.yml").read_text()
    text = text.replace("  endpoint: https://im.egi.eu/im ", f"  endpoint: {endpoint} ")
    text = text[: text.index("\nartifacts:")] + "\n"  # artifacts unset: this checkout
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "site.yml").write_text(text)
    return folder


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:8800",
        "http://localhost:8800/im",
        "http://[::1]:8800",
        "https://127.3.2.1/im",
    ],
)
def test_a_loopback_im_reads_this_checkout(tmp_path: Path, endpoint: str) -> None:
    assert load_site(_im_site(tmp_path, endpoint)).site.artifacts.repo_url is None


@pytest.mark.parametrize(
    ("endpoint", "shown"),
    [
        ("https://im.egi.eu/im", "https://im.egi.eu/im"),
        # An URL without a path is shown as pydantic's HttpUrl writes it (path '/').
        ("https://10.0.0.5:8800", "https://10.0.0.5:8800/"),
        ("https://localhost.example.org", "https://localhost.example.org/"),
    ],
)
def test_a_remote_im_needs_published_artifacts(tmp_path: Path, endpoint: str, shown: str) -> None:
    folder = _im_site(tmp_path, endpoint)
    why = (
        "is unset, so it defaults to this checkout as file://, which the remote IM at "
        f"{shown} cannot read: give an https:// (or git) URL of a published oscar-iac release"
    )
    # An unset field has no line of its own: the document's first line ("name: ...").
    first = (folder / "site.yml").read_text().splitlines().index("name: egi-example") + 1
    assert _problems(folder) == [
        f"{folder / 'site.yml'}:{first}: artifacts.repo_url: {why}",
        f"{folder / 'site.yml'}:{first}: artifacts.entry_url: {why}",
    ]


def _check(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    return rules.check(Site.model_validate(data))


def _local() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
    return data


def test_the_local_sample_breaks_no_rule() -> None:
    assert _check(_local()) == []


def test_sync_models_need_knative_and_dcache_via_nifi_needs_nifi() -> None:
    data = _local()
    data["stack"]["knative"] = {"enabled": False}
    data["models"] = [
        {"module": "a-module", "mode": "async"},
        {"module": "b-module", "mode": "both"},
        {"module": "c-module", "service": "c", "mode": "sync"},
    ]
    dcache = {
        "kind": "dcache", "frontend": "https://d.example.org:3880",
        "webdav": "https://d.example.org:2880", "path": "/data",
        "credential": "env:T", "service": "c",
    }  # fmt: skip
    data["events"] = [
        {**dcache, "name": "e0", "via": "relay"},
        {**dcache, "name": "e1"},
    ]
    assert _check(data) == [
        (
            ("models", 1, "mode"),
            "model 'b-module' is invoked synchronously (mode both), which needs OSCAR's /run "
            "and so Knative: set stack.knative.enabled: true or mode: async",
        ),
        (
            ("models", 2, "mode"),
            "model 'c-module' is invoked synchronously (mode sync), which needs OSCAR's /run "
            "and so Knative: set stack.knative.enabled: true or mode: async",
        ),
        (
            ("events", 1, "kind"),
            "dcache event sources with via: nifi are carried by NiFi: set "
            "stack.nifi.enabled: true (or via: relay for the light relay)",
        ),
    ]


def test_event_sources_feed_distinct_names_and_known_services() -> None:
    data = _local()
    minio = {
        "kind": "minio", "endpoint": "https://minio.example.org", "access_key": "k",
        "secret_key": "env:S", "bucket": "inbox",
    }  # fmt: skip
    data["events"] = [
        {**minio, "name": "e0", "service": "ghost"},
        {**minio, "name": "e1", "service": "ghost"},
        {**minio, "name": "e0", "service": "ghost"},
    ]
    none = (
        "'ghost' is not a service of this site (its models give: none: the site lists no "
        "models); expected the service of one of the site's models"
    )
    assert _check(data) == [
        (("events", 0, "service"), none),
        (("events", 1, "service"), none),
        (("events", 2, "service"), none),
        (("events", 2, "name"), "'e0' is already used by events[0]"),
    ]
    data["models"] = [
        {"module": "b-module", "mode": "async"},
        {"module": "A-Module", "mode": "async", "service": "a"},
        {"module": "b-module", "mode": "async", "service": "a"},
        {"module": "c-module", "mode": "async", "service": "a"},
    ]
    data["events"] = [
        {**minio, "name": "e0", "service": "a"},
        {**minio, "name": "e1", "service": "x"},
    ]
    assert _check(data) == [
        (
            ("events", 1, "service"),
            "'x' is not a service of this site (its models give: a, b-module); expected the "
            "service of one of the site's models",
        ),
        (("models", 2, "module"), "'b-module' is already listed at models[0]"),
        (("models", 2, "service"), "'a' is already used by models[1]"),
        (("models", 3, "service"), "'a' is already used by models[1]"),
    ]


def test_platform_rules_name_their_field() -> None:
    data = _local()
    del data["cluster"]
    data["stack"]["kubernetes"] = {"ha": True}
    data["stack"]["storage"] = {"nfs": False, "storage_class": "local-path"}
    data["stack"]["oidc"] = {"allowed_vos": ["vo.example.org"]}
    assert _check(data) == [
        (("cluster",), "required field is missing (a 'im' target builds a cluster)"),
        (("stack", "kubernetes", "ha"), "HA control planes are supported on the hosts target only"),
        (
            ("stack", "storage", "storage_class"),
            "is 'local-path' with storage.nfs false: OSCAR's volume needs ReadWriteMany, which "
            "only the nfs role's class gives here ('local-path' is ReadWriteOnce): set "
            "storage.nfs: true, or name an RWX StorageClass your cluster provides",
        ),
        (("stack", "oidc", "allowed_vos"), "is set but stack.oidc.enabled is false"),
    ]
    data = _local()
    data["stack"]["storage"] = {"nfs": False, "storage_class": "cephfs"}  # an RWX class
    assert _check(data) == []


def test_role_variables_need_a_role_prefix_and_the_charts_namespace() -> None:
    data = _local()
    data["stack"]["role_vars"] = {"oscar_services_namespace": "mine", "k3s_x": "1", "zzz": "2"}
    found = _check(data)
    assert found[0] == (
        ("stack", "role_vars", "oscar_services_namespace"),
        "is 'mine', but OSCAR chart 4.1.2 creates its image-prefix ConfigMap "
        "(additional-oscar-config) in 'oscar-svc' whatever the services namespace: remove it "
        "(the services namespace must be 'oscar-svc')",
    )
    assert [loc for loc, _ in found] == [
        ("stack", "role_vars", "oscar_services_namespace"),
        ("stack", "role_vars", "zzz"),
    ]
    why = found[1][1]
    assert why.startswith("expected a role variable starting with a role's prefix (")
    # roles/ holds k3s, minio and oscar (among others), listed sorted, each with '_'.
    assert ", k3s_, " in why and ", minio_, " in why and why.endswith(")")
    assert why.index("k3s_") < why.index("minio_") < why.index("oscar_")


def test_the_nodes_cloud_lists_a_machine_per_worker_and_no_gpu_workers() -> None:
    data = yaml.safe_load((REPO / "inventories" / "nodes-example" / "site.yml").read_text())
    data["cluster"]["workers"] = {"count": 4}
    data["cluster"]["gpu_workers"] = {"count": 1}
    data["target"]["cloud"]["workers"][2]["address"] = "192.0.2.11"
    assert _check(data) == [
        (
            ("cluster", "workers", "count"),
            "is 4 but target.cloud.workers lists 3 machines; list one machine per worker",
        ),
        (
            ("cluster", "gpu_workers", "count"),
            "the nodes cloud has no GPU workers yet: list GPU machines as workers and set it to 0",
        ),
        (
            ("target", "cloud", "workers", 2, "address"),
            "'192.0.2.11' is already the address of workers[0]",
        ),
    ]


def test_im_rules_relay_and_appdb() -> None:
    data = yaml.safe_load((REPO / "inventories" / "egi-example" / "site.yml").read_text())
    data["cluster"]["image"] = {"url": "appdb://SITE/egi.ubuntu.22.04?fedcloud.egi.eu"}
    data["models"] = [{"module": "m", "mode": "async", "service": "s"}]
    data["events"] = [
        {
            "kind": "dcache", "name": "e", "frontend": "https://d.example.org:3880",
            "webdav": "https://d.example.org:2880", "path": "/data", "credential": "env:T",
            "service": "s", "via": "relay",
        }
    ]  # fmt: skip
    cloud = data["target"]["cloud"]
    assert _check(data) == [
        (
            ("events", 0, "via"),
            "is 'relay', which only the hosts target installs (IM's playbooks run no relay): "
            "use via: nifi with stack.nifi.enabled: true, or a hosts target",
        ),
        (
            ("cluster", "image", "url"),
            "appdb:// image URLs are not accepted by IM 2.0 (AppDB is gone; its OpenStack "
            "connector takes egi:// and ost://): write e.g. "
            f"'egi://{cloud['site']}/egi_vm_images/ubuntu:22.04?{cloud['vo']}'",
        ),
    ]


def test_the_hosts_target_lists_a_host_per_worker() -> None:
    data = yaml.safe_load((REPO / "inventories" / "hosts-example" / "site.yml").read_text())
    assert _check(data) == []
    data["cluster"]["workers"]["count"] = 3
    assert _check(data) == [
        (
            ("cluster", "workers", "count"),
            "is 3 but target.workers lists 2 hosts; on the hosts target they must agree",
        )
    ]
