"""roles/nifi (issue #10 item 5): the objects it renders, run through real Ansible on
localhost (render only), validated by `oscar-iac manifests validate`, and the pieces the
NiFi pod runs (conf seeding, the listener launcher) executed here with sh.

Upstream facts (apache/nifi, rel/nifi-2.6.0):
- nifi-docker/dockerhub/Dockerfile: VOLUME conf, database/flowfile/content/provenance
  repositories, state, logs (...); python3 and python3-venv installed; user nifi 1000:1000.
- nifi-docker/dockerhub/sh/start.sh: edits conf/nifi.properties and bootstrap.conf in place
  (prop_replace); sets nifi.sensitive.props.key from NIFI_SENSITIVE_PROPS_KEY.
- nifi-bootstrap .../SecurityApplicationPropertyHandler.java: the generated certificate's DNS
  names are localhost, the host name and the hosts of nifi.web.proxy.host.
- nifi-docker/dockermaven/integration-test.sh: a request by IP answers 400 "Invalid SNI".
traefik v3.6.15 pkg/provider/kubernetes/gateway/httproute.go: a BackendTLSPolicy matching the
Service port makes the backend https with ServerName = validation.hostname and RootCAs = the
`ca.crt` of each referenced ConfigMap (loadServersTransport; ConfigMaps only).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from oscar_iac.events import nifi_flow
from roles.conftest import REPO, run_tool

HOST = "nifi.oscar.example.org"
# NiFi's HOST_PORT_PATTERN for nifi.web.proxy.host entries (SecurityApplicationPropertyHandler).
HOST_PORT = re.compile(r"^([\w\-.]{1,254}):?\d{0,5}$")


def _render(tmp_path: Path, extra: str = "") -> tuple[int, str, list[dict[str, Any]]]:
    listener = tmp_path / "listener.py"
    listener.write_text("print('listener')\n")
    book = tmp_path / "play.yml"
    book.write_text(
        f"""- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [{REPO / "versions.yml"}]
  vars:
    ansible_python_interpreter: {sys.executable}
    nifi_password: a-password-of-20-chars
    nifi_hostname: {HOST}
    nifi_apply: false
    nifi_manifest_dir: {tmp_path / "manifests"}
    nifi_secrets_dir: {tmp_path / "secrets"}
    nifi_listener_file: {listener}
{extra}
  roles:
    - role: nifi
"""
    )
    res = run_tool("ansible-playbook", "-i", "localhost,", book)
    out = res.stdout + res.stderr
    path = tmp_path / "manifests" / "nifi.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d] if path.exists() else []
    return res.returncode, out, docs


def _kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("nifi-role")
    code, out, docs = _render(tmp)
    assert code == 0, out
    return tmp, docs


def test_nifi_role_objects_are_valid_kubernetes(cli, rendered) -> None:  # type: ignore[no-untyped-def]
    tmp, _ = rendered
    res = cli("manifests", "validate", str(tmp / "manifests"))
    assert res.code == 0, res.out + res.err


def test_nifi_conf_is_never_an_empty_claim(rendered) -> None:  # type: ignore[no-untyped-def]
    _, docs = rendered
    pod = _kind(docs, "StatefulSet")["spec"]["template"]["spec"]
    nifi = pod["containers"][0]
    conf = [m for m in nifi["volumeMounts"] if m["mountPath"] == "/opt/nifi/nifi-current/conf"]
    assert len(conf) == 1
    seeders = [
        c
        for c in pod.get("initContainers", [])
        if any(m.get("subPath") == conf[0]["subPath"] for m in c["volumeMounts"])
        and 'cp -R "$NIFI_HOME/conf/."' in c["command"][-1]
        and c["image"] == nifi["image"]
    ]
    assert seeders, "conf/ is mounted from the claim but nothing seeds it from the image first"
    # Every claim-backed folder under NIFI_HOME is one the image declares a VOLUME.
    volumes = {"conf", "database_repository", "flowfile_repository", "content_repository",
               "provenance_repository", "state", "logs", "python_extensions", "nar_extensions"}  # fmt: skip
    for m in nifi["volumeMounts"]:
        if m["mountPath"].startswith("/opt/nifi/nifi-current/"):
            assert m["mountPath"].rsplit("/", 1)[1] in volumes, m


def test_nifi_conf_seed_script_keeps_the_flow(rendered, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, docs = rendered
    pod = _kind(docs, "StatefulSet")["spec"]["template"]["spec"]
    init = pod["initContainers"][0]
    script = init["command"][-1]
    mark = init["env"][0]["value"]
    image = tmp_path / "image"
    (image / "conf").mkdir(parents=True)
    (image / "conf" / "nifi.properties").write_text("nifi.sensitive.props.key=\n")
    (image / "conf" / "bootstrap.conf").write_text("java.arg.2=-Xms1g\n")
    seed = tmp_path / "claim-conf"
    seed.mkdir()

    def run(mark_value: str) -> str:
        env = dict(
            os.environ,
            NIFI_HOME=str(image),
            OSCAR_IAC_SEED_DIR=str(seed),
            OSCAR_IAC_CONF_MARK=mark_value,
        )
        res = subprocess.run(
            ["sh", "-c", script], env=env, capture_output=True, text=True, check=True
        )
        return res.stdout

    assert "seeded" in run(mark)
    assert (seed / "nifi.properties").exists() and (seed / "bootstrap.conf").exists()
    # NiFi runs: start.sh edits nifi.properties, NiFi writes its flow and keystore.
    (seed / "nifi.properties").write_text("nifi.sensitive.props.key=kept\n")
    (seed / "flow.json.gz").write_bytes(b"flow")
    (seed / "keystore.p12").write_bytes(b"ks")
    assert run(mark) == "", "a restart must keep the conf as NiFi left it"
    assert (seed / "nifi.properties").read_text() == "nifi.sensitive.props.key=kept\n"
    # A new image or host name: fresh conf from the image, the flow kept, the cert regenerated.
    assert "seeded" in run(mark.replace(HOST, "nifi.other.example.org"))
    assert (seed / "nifi.properties").read_text() == "nifi.sensitive.props.key=\n"
    assert (seed / "flow.json.gz").read_bytes() == b"flow"
    assert not (seed / "keystore.p12").exists()


def test_nifi_sni_and_host_match_the_certificate(rendered) -> None:  # type: ignore[no-untyped-def]
    _, docs = rendered
    assert not [d for d in docs if d["kind"] == "Ingress"]
    route = _kind(docs, "HTTPRoute")
    policy = _kind(docs, "BackendTLSPolicy")
    service = _kind(docs, "Service")
    # The route's backend is the Service port the policy targets (by its name).
    (backend,) = route["spec"]["rules"][0]["backendRefs"]
    port = next(p for p in service["spec"]["ports"] if p["port"] == backend["port"])
    (target,) = policy["spec"]["targetRefs"]
    assert (target["kind"], target["name"], target["sectionName"]) == (
        "Service",
        "nifi",
        port["name"],
    )
    # Traefik trusts ConfigMaps only, and reads their `ca.crt` (loadServersTransport).
    (ca,) = policy["spec"]["validation"]["caCertificateRefs"]
    assert (ca["group"], ca["kind"], ca["name"]) == ("", "ConfigMap", "nifi-backend-ca")
    ca_template = (REPO / "roles" / "nifi" / "templates" / "nifi-backend-ca.yaml.j2").read_text()
    assert "name: nifi-backend-ca" in ca_template and "ca.crt:" in ca_template
    env = {
        e["name"]: e
        for e in _kind(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    proxy_hosts = {
        m.group(1)
        for part in env["NIFI_WEB_PROXY_HOST"]["value"].split(",")
        if (m := HOST_PORT.match(part.strip()))
    }
    sans = {"localhost", "nifi-0"} | proxy_hosts  # what NiFi puts in its certificate
    # The SNI Traefik sends (the policy's hostname) and the public host every request
    # carries are names NiFi's certificate holds: no "400 Invalid SNI".
    assert policy["spec"]["validation"]["hostname"] in sans
    assert route["spec"]["hostnames"] == [HOST]
    assert HOST in sans


def test_nifi_sensitive_props_key_comes_from_a_kept_secret(tmp_path: Path) -> None:
    code, out, docs = _render(tmp_path)
    assert code == 0, out
    env = {
        e["name"]: e
        for e in _kind(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    ref = env["NIFI_SENSITIVE_PROPS_KEY"]["valueFrom"]["secretKeyRef"]
    secret = _kind(docs, "Secret")
    key = secret["stringData"][ref["key"]]
    assert ref["name"] == secret["metadata"]["name"] and len(key) >= 12
    kept = tmp_path / "secrets" / "sensitive-props-key"
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    assert key not in out, "the key was logged"
    # A second run keeps the key (a new one would make the stored flow unreadable).
    code, out, docs = _render(tmp_path)
    assert code == 0, out
    assert _kind(docs, "Secret")["stringData"][ref["key"]] == key
    task = out.split("TASK [nifi : Generate the sensitive-properties key once]", 1)[1]
    result = task.split("TASK [", 1)[0]
    assert "ok: [localhost]" in result and "changed:" not in result, result
    # Idempotent as a whole: the second run changes nothing.
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s", out), out[-1500:]


def test_nifi_listener_is_mounted_where_the_flow_runs_it(rendered) -> None:  # type: ignore[no-untyped-def]
    _, docs = rendered
    cm = _kind(docs, "ConfigMap")
    assert set(cm["data"]) == {"listener.py", "run-listener.sh"}
    # Ansible's file lookup drops the trailing newline.
    launcher = (REPO / "roles/nifi/files/run-listener.sh").read_text()
    assert cm["data"]["run-listener.sh"] == launcher.rstrip("\n")
    assert cm["data"]["listener.py"] == "print('listener')"
    pod = _kind(docs, "StatefulSet")["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert nifi_flow.LAUNCHER.rsplit("/", 1)[0] in mounts
    assert mounts[nifi_flow.LISTENER_DIR]["name"] == "listener"
    assert nifi_flow.WORK_ROOT in mounts and mounts[nifi_flow.WORK_ROOT]["name"] == "data"


def test_nifi_dns_name_is_registered(tmp_path: Path) -> None:
    from oscar_iac.render.context import template_context
    from oscar_iac.site import load_site

    site = yaml.safe_load((REPO / "inventories" / "local" / "site.yml").read_text())
    site.setdefault("stack", {})["nifi"] = {"enabled": True}
    (tmp_path / "site.yml").write_text(yaml.safe_dump(site))
    ctx = template_context(load_site(tmp_path))
    cluster = ctx["cluster"]
    assert f"nifi.{cluster.name}@{cluster.domain}" in ctx["dns_names"]
    site["stack"]["nifi"] = {"enabled": False}
    (tmp_path / "site.yml").write_text(yaml.safe_dump(site))
    assert not any(
        n.startswith("nifi.") for n in template_context(load_site(tmp_path))["dns_names"]
    )


def test_nifi_role_check_mode_on_a_fresh_node_writes_nothing(tmp_path: Path) -> None:
    listener = tmp_path / "listener.py"
    listener.write_text("print('listener')\n")
    book = tmp_path / "play.yml"
    book.write_text(
        f"""- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [{REPO / "versions.yml"}]
  vars:
    ansible_python_interpreter: {sys.executable}
    nifi_password: a-password-of-20-chars
    nifi_apply: false
    nifi_manifest_dir: {tmp_path / "manifests"}
    nifi_secrets_dir: {tmp_path / "secrets"}
    nifi_listener_file: {listener}
  roles:
    - role: nifi
"""
    )
    res = run_tool("ansible-playbook", "--check", "-i", "localhost,", book)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (tmp_path / "secrets").exists() and not (tmp_path / "manifests").exists()
