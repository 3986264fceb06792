"""Issue 23 items 3, 4, 6, 7, 8: every message says the truth and the next step."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import yaml
from runcli import REPO, env, piped

from helpers.cli import CliResult
from oscar_iac.errors import DeploymentError, short_reason
from oscar_iac.oscar import OscarConnection
from oscar_iac.phases import run as phases_run
from oscar_iac.phases.platform import wait_ready
from oscar_iac.site import load_site

Cli = Callable[..., CliResult]


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))


def _copy(tmp_path: Path, sample: str = "local") -> Path:
    site = tmp_path / sample
    shutil.copytree(REPO / "inventories" / sample, site)
    return site


# ----------------------------------------------------------------- item 3: Ansible


def test_ansible_playbook_is_found_beside_the_interpreter_without_activation() -> None:
    """`.venv/bin/oscar-iac` run with a PATH that lacks the venv still finds Ansible."""
    code = (
        "from oscar_iac.phases.hosts import find_ansible_playbook; print(find_ansible_playbook())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env(PATH="/usr/sbin:/usr/bin:/sbin:/bin"),
        check=True,
    )
    assert proc.stdout.strip() == str(Path(sys.executable).parent / "ansible-playbook")


def test_the_hosts_extra_brings_ansible_and_the_readme_names_it() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("ansible>=") for dep in project["optional-dependencies"]["hosts"])
    assert "pip install 'oscar-iac[hosts]'" in (REPO / "README.md").read_text()


# ----------------------------------------------------------------- item 4: models plan


def test_models_plan_on_the_local_site_says_what_why_and_next(tmp_path: Path, cli: Cli) -> None:
    """After `up` of the embedded default site its state names endpoints nothing serves."""
    from oscar_iac import state

    site = _copy(tmp_path)
    url = "https://oscar-local.oscar.localhost"
    state.save(state.Deployment(site="local", im_url="embedded", outputs={"oscar_endpoint": url}))
    res = cli("models", "plan", str(site))
    assert res.code == 1
    lines = res.err.splitlines()
    assert "HTTPSConnectionPool" not in res.err and "unknown time" not in res.err
    assert "fetched just now" not in res.err  # nothing was fetched: the site has no models
    assert lines[0].endswith("the site lists no models, so it was not asked")
    assert lines[1].startswith(f"failed: cannot reach OSCAR at {url}: ")
    assert lines[1].endswith(
        "; site 'local' runs IM's Dummy cloud, which boots no VM, so nothing answers at its "
        "endpoints"
    )
    assert lines[2:] == [
        "  next: --oscar-endpoint URL names an OSCAR you have",
        "  next: for a real cluster: see README 'Describing a new site'",
    ]


def test_an_unreachable_server_is_named_in_one_short_reason() -> None:
    with pytest.raises(requests.RequestException) as info:
        requests.get("https://oscar-iac-newcomer.invalid/system/services", timeout=10)
    assert short_reason(info.value) == "its host name does not resolve (DNS)"


# ----------------------------------------------------------------- item 6: facts


class _NeverReady(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def never_ready() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NeverReady)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_platform_wait_says_how_long_it_waited_and_the_typed_path(
    never_ready: str, tmp_path: Path
) -> None:
    site = _copy(tmp_path)
    loaded = load_site(site)
    with pytest.raises(DeploymentError) as info:
        wait_ready(
            OscarConnection(never_ready, "oscar", "pw"), 1.5, rerun=phases_run._rerun(loaded)
        )
    message = str(info.value)
    waited = float(re.search(r"not ready after ([0-9.]+) s of waiting", message).group(1))  # type: ignore[union-attr]
    assert waited >= 1.5, message  # the limit was waited in full before saying so
    assert "(limit 1.5 s;" in message and "last: /health answered 503" in message
    assert f"oscar-iac up {site} --only platform --platform-timeout SECONDS" in info.value.hints
    assert all("SITE" not in hint for hint in info.value.hints)


def test_a_misplaced_key_says_where_it_belongs(tmp_path: Path, cli: Cli) -> None:
    site = _copy(tmp_path)
    data = yaml.safe_load((site / "site.yml").read_text())
    data["cluster"]["knative"] = {"enabled": True}
    (site / "site.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    res = cli("validate", str(site))
    assert res.code == 2
    assert "cluster.knative: unknown key ('knative' is not allowed here; it belongs at " in res.err
    assert "stack.knative" in res.err and "did you mean 'knative'" not in res.err


def test_logs_refuses_a_negative_tail(cli: Cli, tmp_path: Path) -> None:
    res = cli("logs", str(_copy(tmp_path)), "--tail", "-5")
    assert res.code == 2 and "--tail" in res.err


def test_events_source_must_name_a_source(cli: Cli, tmp_path: Path) -> None:
    res = cli("events", "plan", str(_copy(tmp_path)), "--source", "nope")
    assert res.code == 2
    assert "--source 'nope': no event source of that name; the site's sources: none" in res.err


def test_events_relay_without_relay_sources_is_one_message(cli: Cli, tmp_path: Path) -> None:
    res = cli("events", "relay", str(_copy(tmp_path)))
    assert res.code == 2 and res.out == ""
    assert "relaying" not in res.err
    assert (
        len(res.err.splitlines()) == 1
        and "no dcache event source with via: relay in this site" in res.err
    )


def test_up_help_lists_the_phases() -> None:
    assert ", ".join(phases_run.PHASES) in piped("up", "--help").out


# ----------------------------------------------------------------- item 7: noise


def _overlaps(node: yaml.Node, where: str) -> list[str]:
    """Keys Ansible's YAML loader reports as duplicates: a key given twice, or a key of a
    merged mapping (`<<: *x`) given again beside it."""
    found: list[str] = []
    if isinstance(node, yaml.MappingNode):
        own: list[str] = []
        merged: list[str] = []
        for key, value in node.value:
            if key.value == "<<":
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for src in sources:
                    merged += [k.value for k, _ in src.value]
            else:
                own.append(key.value)
        dup = {k for k in own if own.count(k) > 1} | (set(own) & set(merged))
        found += [f"{where}:{node.start_mark.line + 1}: {k}" for k in sorted(dup)]
        for _, value in node.value:
            found += _overlaps(value, where)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found += _overlaps(item, where)
    return found


def test_no_yaml_file_ansible_lint_reads_has_duplicate_keys() -> None:
    problems: list[str] = []
    for top in ("roles", "playbooks", "molecule"):
        for path in sorted((REPO / top).rglob("*.yml")):
            for doc in yaml.compose_all(path.read_text()):
                if doc is not None:
                    problems += _overlaps(doc, str(path.relative_to(REPO)))
    assert problems == []


def test_services_try_strips_the_containers_escapes_when_piped() -> None:
    code = (
        "from oscar_iac.cli import services\n"
        "from oscar_iac.runner.supervise import RunResult\n"
        "r = RunResult(0, '\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07done', "
        "{'out.txt': b'\\x1b[1mbold\\x1b[0m'}, None)\n"
        "services._show(r, 'svc', ['A'], [])\n"
        "services._print_result(r, False)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env(), check=True
    )
    assert "\x1b" not in proc.stdout + proc.stderr
    assert "red done" in proc.stderr and proc.stdout == "bold\n"


# ----------------------------------------------------------------- item 8: nodes sample


def test_the_nodes_sample_validates_as_shipped_and_up_refuses_its_placeholder(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OSCAR_IAC_SECRET_DIRS", raising=False)
    res = cli("validate", str(REPO / "inventories" / "nodes-example"))
    assert res.code == 0, res.err
    from oscar_iac.im import nodes

    placeholder = (REPO / "inventories" / "nodes-example" / "ssh-key.REPLACE-ME").read_text()
    with pytest.raises(DeploymentError, match="the sample's placeholder"):
        nodes._pkey(placeholder)
    assert "ssh-key.REPLACE-ME" in (REPO / "README.md").read_text()
    assert os.stat(REPO / "inventories" / "nodes-example" / "site.yml").st_size > 0
