"""The orchestrator dispatches by kind and keeps a missing backend to its own kind."""

from __future__ import annotations

import pytest

from oscar_iac.errors import DeploymentError
from oscar_iac.events import orchestrate


def test_missing_backend_module_is_a_clear_deployment_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(orchestrate.BACKENDS, "dcache", "oscar_iac.events.not_written_yet")
    with pytest.raises(DeploymentError) as err:
        orchestrate._backend("dcache", "plan")
    assert "'dcache' event backend is not available" in str(err.value)
    # the MinIO backend still loads
    assert callable(orchestrate._backend("minio", "apply"))
