"""Run an OSCAR service's script locally, the way OSCAR's FaaS supervisor runs it.

service   read a service from an FDL file (or take an OSCAR service definition)
events    what the supervisor makes of an invocation's body (storage event or not)
podman    the container engine: image checks and `podman run` with env files
supervise one invocation: input folder, environment, script, outputs, response
storage   the supervisor's MinIO input download and output upload
executor  plugs all of that into the OSCAR test double's /run and /job
"""

from oscar_iac.runner.podman import Podman
from oscar_iac.runner.service import Service, load_service
from oscar_iac.runner.supervise import Invocation, RunResult, run_invocation

__all__ = ["Invocation", "Podman", "RunResult", "Service", "load_service", "run_invocation"]
