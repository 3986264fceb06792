"""Call models registered as OSCAR services, from Python and Jupyter.

    from oscar_iac.client import Client
    oscar = Client.from_site("inventories/egi-example")      # or Client(endpoint, token=...)
    oscar.predict("ai4os-demo-app", "leaf.png")              # synchronous, through /run
    job = oscar.submit("ai4os-demo-app", "leaf.png")         # asynchronous, through MinIO
    job.wait(timeout=600).result()

Built on oscar-python's `Client`; model names map to service names as `models apply`
registers them.
"""

from oscar_iac.client.api import Client
from oscar_iac.client.jobs import Job, JobInfo

__all__ = ["Client", "Job", "JobInfo"]
