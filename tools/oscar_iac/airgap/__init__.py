"""Air-gap mode: the artifacts folder the roles read instead of the internet."""

from oscar_iac.airgap.artifacts import Artifact, Status, artifacts, fetch, status

__all__ = ["Artifact", "Status", "artifacts", "fetch", "status"]
