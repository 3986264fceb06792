"""`node_oscar`: the real OSCAR v4.1.2 (components.real_oscar) on the real node's control plane,
set up so that its job Pods really run (what chart 4.1.2 and OSCAR's source expect of a cluster):

- the supervisor: OSCAR v4.1.2 runs `echo $EVENT | /oscar/bin/supervisor` in each job Pod
  (pkg/handlers/job.go; pkg/types/service.go VolumePath "/oscar/bin", SupervisorName), read
  from the PVC `oscar-pvc` in the services namespace (service.go PVCName; chart
  templates/oscar-volume.yaml: 2Gi, ReadWriteMany, `volume.storageClassName`). Upstream a
  populate-volume-job fills it from GitHub; here a hostPath PV of the class our role renders
  holds faas-supervisor 1.6.2 built by tests/components/build-node.sh;
- MinIO: OSCAR hands the Pods its own MINIO_ENDPOINT (the service's storage_providers
  minio.default, pkg/types/config.go MinIOProvider); a cluster resolves `minio.minio` with
  its DNS, which this node has not. So OSCAR is given an endpoint both it and the Pods
  reach: a relay on the node's bridge address to the MinIO on loopback;
- MinIO's webhook to OSCAR (http://oscar.oscar:<port>/job/<svc>) resolves through MinIO's
  private /etc/hosts, as in components.real_oscar.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components.kube_fixture import KubeCluster
from components.minio_fixture import start_minio, stop_minio
from components.node_fixture import CACHE, TEST_COMPONENTS, RealNode
from components.real_oscar import RealOscar, start_real_oscar, stop_real_oscar

SUPERVISOR = (
    CACHE / "supervisor" / str(TEST_COMPONENTS["faas_supervisor"]["version"]) / "supervisor"
)
ROLE_DEFAULTS = Path(__file__).resolve().parents[2] / "roles" / "oscar" / "defaults" / "main.yml"


def supervisor_volume(node: RealNode, storage_class: str, namespace: str) -> str:
    """A hostPath PV holding the supervisor, pre-bound to chart 4.1.2's PVC oscar-pvc."""
    folder = node.workdir / "oscar-bin"
    folder.mkdir(exist_ok=True)
    shutil.copy2(SUPERVISOR, folder / "supervisor")
    return json.dumps({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": f"oscar-bin-{node.bridge}"},
        "spec": {
            "capacity": {"storage": "2Gi"},
            "accessModes": ["ReadWriteMany"],
            "storageClassName": storage_class,
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": namespace, "name": "oscar-pvc"},
            "hostPath": {"path": str(folder), "type": "Directory"},
        },
    })  # fmt: skip


@pytest.fixture(scope="session")
def node_oscar(node_cluster: KubeCluster, real_node: RealNode) -> Iterator[RealOscar]:
    workdir = Path(tempfile.mkdtemp(prefix="oscar-iac-node-oscar-"))
    defaults = yaml.safe_load(ROLE_DEFAULTS.read_text())
    namespace = str(defaults["oscar_namespace"])
    hosts = workdir / "hosts"
    hosts.write_text(
        Path("/etc/hosts").read_text()
        + f"\n127.0.0.1 oscar.{namespace} oscar.{namespace}.svc.cluster.local\n"
    )
    minio = start_minio(workdir / "minio", hosts_file=hosts)
    try:
        port = int(minio.endpoint.rsplit(":", 1)[1])
        endpoint = f"http://{real_node.ip}:{real_node.relay(port)}"
        pv = supervisor_volume(
            real_node,
            str(defaults["oscar_volume_storage_class"]),
            str(defaults["oscar_services_namespace"]),
        )
        res = node_cluster.apply(pv)
        assert res.returncode == 0, res.stderr
        oscar = start_real_oscar(
            node_cluster, workdir / "oscar", minio=minio, oscar_minio_endpoint=endpoint
        )
        # A MinIO event names the uploading account (userIdentity.principalId) and OSCAR
        # v4.1.2 mounts the Secret of that name into the job Pod (pkg/handlers/job.go:
        # decodeEventBytes -> minIOSecretKey -> Volume `minio-user`), creating it only for
        # the MinIO users it manages (pkg/utils/auth/multitenancy.go CreateSecretForOIDC:
        # accessKey, secretKey, oidc_uid); for the account uploading here, none exists and the
        # Pod waits forever on `secret "<account>" not found`. Create it as OSCAR would.
        secret = {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": minio.access_key, "namespace": oscar.services_namespace},
            "stringData": {"oidc_uid": minio.access_key, "accessKey": minio.access_key,
                           "secretKey": minio.secret_key},
        }  # fmt: skip
        res = node_cluster.apply(json.dumps(secret))
        assert res.returncode == 0, res.stderr
        try:
            yield oscar
        finally:
            stop_real_oscar(oscar)
    finally:
        stop_minio(minio)
        shutil.rmtree(workdir, ignore_errors=True)
