"""Root conftest: shared fixtures of real components and contract doubles.

`helpers.cli` gives every test the `cli` fixture (the real CLI, in-process).
Each other plugin module is owned by the area that needs it first; every area's tests
may use them:
  components.minio_fixture   a real MinIO server on loopback (built from the Go module proxy)
  components.kube_fixture    a real Kubernetes v1.37.2 control plane (etcd, apiserver, kcm)
  components.real_oscar      the real OSCAR manager v4.1.2 on it, installed as roles/oscar does
  doubles.oscar_fixture      the OSCAR manager test double enforcing the v4.1.2 swagger
  runner.fixtures            the local runner's demo image (built when missing) and its FDL
"""

pytest_plugins = [
    "helpers.cli",
    "components.minio_fixture",
    "components.kube_fixture",
    "components.real_oscar",
    "doubles.oscar_fixture",
    "runner.fixtures",
]


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _stop_embedded_ims_started_by_the_test() -> object:
    """The embedded IM outlives a command (see oscar_iac.im.server); a test's own ones
    are stopped when the test ends, through the same identity-checked stop `down` uses."""
    yield
    from oscar_iac.im import server

    while server.started:
        server.stop_running(server.started.pop())
