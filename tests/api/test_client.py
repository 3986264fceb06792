"""The Python API against the OSCAR double + local runner + real MinIO (tests/api/conftest)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.conftest import Cluster
from oscar_iac import state
from oscar_iac.client import Client
from oscar_iac.errors import UserError
from runner.fixtures import EXPECTED_SPECIES, IRIS_SAMPLE

pytestmark = pytest.mark.slow


def _species(prediction: dict[str, list[dict[str, str]]]) -> list[str]:
    return [row["species"] for row in prediction["predictions"]]


def _basic(cluster: Cluster) -> Client:
    return Client(cluster.oscar.url, user=cluster.oscar.username, password=cluster.oscar.password)


def test_predict_from_a_file_and_with_model_arguments(cluster: Cluster) -> None:
    client = _basic(cluster)
    assert _species(client.predict(cluster.model, IRIS_SAMPLE)) == EXPECTED_SPECIES
    detailed = client.predict(cluster.model, str(IRIS_SAMPLE), probabilities=True)
    assert all(
        set(row["probabilities"]) == set(EXPECTED_SPECIES) for row in detailed["predictions"]
    )
    # Through OSCAR's /run (the double records a call just after answering it, so the
    # first call is surely recorded by now).
    run_calls = [c for c in cluster.oscar.calls_to(f"/run/{cluster.service}") if c.status == 200]
    assert len(run_calls) >= 1


def test_predict_with_a_token_from_the_environment(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OSCAR_IAC_TOKEN", cluster.oidc_token)
    client = Client(cluster.oscar.url, notebooks_file=str(tmp_path / "absent"))
    assert _species(client.predict(cluster.model, IRIS_SAMPLE)) == EXPECTED_SPECIES


def test_token_from_the_notebooks_file_and_none_at_all(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OSCAR_IAC_TOKEN", raising=False)
    monkeypatch.delenv("OSCAR_IAC_OIDC_AGENT_ACCOUNT", raising=False)
    token_file = tmp_path / "access_token"
    token_file.write_text(cluster.oidc_token + "\n")
    client = Client(cluster.oscar.url, notebooks_file=str(token_file))
    assert client.service(cluster.model)["name"] == cluster.service
    with pytest.raises(UserError, match="no OSCAR credentials"):
        Client(cluster.oscar.url, notebooks_file=str(tmp_path / "absent"))


def test_a_wrong_token_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    client = Client(cluster.oscar.url, token="not-a-valid-token")
    with pytest.raises(UserError, match="401"):
        client.predict(cluster.model, IRIS_SAMPLE)


def test_unknown_model_names_the_model(cluster: Cluster) -> None:
    with pytest.raises(UserError, match=r"'no-such-model'.*not registered"):
        _basic(cluster).predict("no-such-model", IRIS_SAMPLE)


def test_submit_wait_result_jobs_and_logs(cluster: Cluster) -> None:
    client = _basic(cluster)
    before = {j.name for j in client.jobs(cluster.model)}
    started = time.monotonic()
    job = client.submit(cluster.model, IRIS_SAMPLE)
    assert job.input_key.startswith("in/iris-sample-") and job.input_key.endswith(".csv")
    assert not job.done()
    result = job.wait(timeout=180, poll=0.5).result()
    assert _species(result) == EXPECTED_SPECIES
    assert job.outputs() == [job.output_prefix + ".prediction.json"]
    assert time.monotonic() - started < 180
    new = [j for j in client.jobs(cluster.model) if j.name not in before]
    assert len(new) == 1 and new[0].status == "Succeeded", new
    assert "predict was called" in client.logs(cluster.model, new[0])


def test_from_site_uses_the_deployment_state(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OSCAR_IAC_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("OSCAR_PASSWORD", cluster.oscar.password)
    repo = Path(__file__).resolve().parents[2]
    with pytest.raises(Exception, match="no OSCAR endpoint known"):
        Client.from_site(repo / "inventories" / "local")
    # What `oscar-iac up` records: the endpoint comes from there.
    state.save(
        state.Deployment(
            site="local", im_url="embedded", outputs={"oscar_endpoint": cluster.oscar.url}
        )
    )
    client = Client.from_site(repo / "inventories" / "local")
    assert client.endpoint == cluster.oscar.url
    assert _species(client.predict(cluster.model, IRIS_SAMPLE)) == EXPECTED_SPECIES
