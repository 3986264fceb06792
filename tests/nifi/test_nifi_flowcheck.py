"""The generated NiFi flow, checked by NiFi's own code (tests/nifi/flowcheck, Maven, Java 21+).

Real: nifi-api's RegisteredFlowSnapshot (strict parsing), the processor classes of
nifi-standard-processors (validation and flowfiles through ExecuteStreamCommand, GetFile,
InvokeHTTP, PutFile) in nifi-mock's TestRunner, the launcher script roles/nifi/files/run-listener.sh.
Stand-in: the listener itself (tests/nifi/listener_standin.py; no dCache runs here).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from nifi.conftest import REPO, MavenRun, run_flowcheck
from oscar_iac.events.nifi_flow import FlowInputs, build_flow, parameters, substitute
from oscar_iac.versions import pin

pytestmark = pytest.mark.slow  # a Maven run of NiFi's real classes per test (~30-40 s)

TOKEN = "oscar-service-token-for-the-test"
CREDENTIAL = "dcache-credential-for-the-test"


def _inputs(**over: Any) -> FlowInputs:
    base: dict[str, Any] = dict(
        site="demo",
        source="dcache-plants",
        frontend="https://dcache.example.org:3880",
        webdav="https://dcache.example.org:2880",
        path="/data/plants",
        recursive=True,
        auth="oidc",
        username=None,
        verify_tls=True,
        oscar_url="https://oscar.demo.example.org",
        service="plant-classifier",
        nifi_version=pin("nifi"),
    )
    base.update(over)
    return FlowInputs(**base)


def _write_inputs(tmp: Path, flow: dict[str, Any], inputs: FlowInputs) -> dict[str, Any]:
    work_root = tmp / "work"
    work = work_root / f"{inputs.site}-{inputs.source}"
    work_root.mkdir()
    values = {k: v for k, v in parameters(inputs).items() if v is not None}
    config = json.loads(values["listener-config"])
    # The test's folders instead of the pod's; the config the same shape.
    config["checkpoint"] = str(work / "checkpoint.json")
    config["sink"]["dir"] = str(work / "spool")
    values.update(
        {
            "work-root": str(work_root),
            "work-dir": str(work),
            "listener-launcher": str(REPO / "roles/nifi/files/run-listener.sh"),
            "listener-run-seconds": "60",
            "listener-config": json.dumps(config, sort_keys=True),
            "oscar-authorization": f"Bearer {TOKEN}",
            "dcache-credential": CREDENTIAL,
        }
    )
    (tmp / "flow.json").write_text(json.dumps(flow, indent=1))
    (tmp / "flow-substituted.json").write_text(json.dumps(substitute(flow, values), indent=1))
    expect = {
        "service": inputs.service,
        "authorization": f"Bearer {TOKEN}",
        "credential": CREDENTIAL,
        "work_dir": str(work),
        "listener": str(Path(__file__).parent / "listener_standin.py"),
        "listener_config": values["listener-config"],
    }
    (tmp / "expect.json").write_text(json.dumps(expect))
    return expect


def _passed(run: MavenRun) -> None:
    assert run.returncode == 0, f"flowcheck failed:\n{run.output[-6000:]}"


def test_nifi_flow_passes_flowcheck_with_real_processors(tmp_path: Path) -> None:
    inputs = _inputs()
    _write_inputs(tmp_path, build_flow(inputs), inputs)
    run = run_flowcheck(tmp_path, pin("nifi"))
    _passed(run)
    reports = list((tmp_path / "target" / "surefire-reports").glob("TEST-*.xml"))
    assert reports, "surefire wrote no report: no test ran"
    text = reports[0].read_text()
    m = re.search(r'tests="(\d+)" errors="(\d+)" skipped="(\d+)" failures="(\d+)"', text)
    assert m and int(m.group(1)) >= 6 and m.group(2) == m.group(3) == m.group(4) == "0", m
    # The event reached OSCAR with the credential only in the listener's environment.
    event = json.loads(
        (tmp_path / "work" / "demo-dcache-plants" / "failed").iterdir().__next__().read_text()
    )
    assert event["credential_sha256"] == hashlib.sha256(CREDENTIAL.encode()).hexdigest()
    assert (
        CREDENTIAL not in (tmp_path / "work" / "demo-dcache-plants" / "listener.json").read_text()
    )


def test_nifi_flowcheck_fails_on_bad_properties_and_dropped_failures(tmp_path: Path) -> None:
    """The checks can fail: a value InvokeHTTP refuses is reported by the real class, and
    an auto-terminated "No Retry" (an event dropped) is refused. One Maven run for both."""
    inputs = _inputs()
    flow = build_flow(inputs)
    post = next(p for p in flow["flowContents"]["processors"] if p["type"].endswith("InvokeHTTP"))
    post["properties"]["Connection Timeout"] = "soon"
    post["autoTerminatedRelationships"].append("No Retry")
    flow["flowContents"]["connections"] = [
        c for c in flow["flowContents"]["connections"] if c["selectedRelationships"] != ["No Retry"]
    ]
    _write_inputs(tmp_path, flow, inputs)
    run = run_flowcheck(
        tmp_path,
        pin("nifi"),
        tests="FlowCheckTest#everyProcessorIsValidForTheRealProcessorClass"
        "+everyRelationshipGoesSomewhereAndNoEventIsDropped",
    )
    assert run.returncode != 0
    assert "'Connection Timeout' validated against 'soon' is invalid" in run.output, run.output[
        -3000:
    ]
    assert "No Retry must keep the event" in run.output, run.output[-3000:]
