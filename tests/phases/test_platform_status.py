"""The platform phase asks OSCAR's GET /system/status and reports what is wrong with the
cluster (the real OSCAR's answers: tests/realoscar/test_existing_target.py)."""

from __future__ import annotations

from doubles.oscar_server import OscarTestServer
from oscar_iac.oscar import OscarConnection
from oscar_iac.phases.platform import wait_ready

FORBIDDEN = (
    'Error getting node info: nodes is forbidden: User "system:serviceaccount:oscar:oscar-sa" '
    'cannot list resource "nodes" in API group "" at the cluster scope'
)


def test_status_500_on_nodes_names_the_missing_rule(oscar_server: OscarTestServer) -> None:
    conn = OscarConnection(oscar_server.url, oscar_server.username, oscar_server.password)
    assert wait_ready(conn, 10).cluster_problem == ""
    oscar_server.status_error = FORBIDDEN
    problem = wait_ready(conn, 10).cluster_problem
    assert problem.startswith("GET /system/status answered 500: Error getting node info")
    assert "oscar-iac-oscar-nodes" in problem and "list on nodes" in problem


def test_status_500_on_metrics_says_the_metrics_api_is_missing(
    oscar_server: OscarTestServer,
) -> None:
    conn = OscarConnection(oscar_server.url, oscar_server.username, oscar_server.password)
    oscar_server.status_error = "Error getting metrics info: the server could not find the requested resource (get nodes.metrics.k8s.io)"
    problem = wait_ready(conn, 10).cluster_problem
    assert "metrics API" in problem and "forbidden" not in problem
