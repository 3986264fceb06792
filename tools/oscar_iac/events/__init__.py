"""Storage events wired to OSCAR services: external MinIO webhooks, dCache via NiFi.

orchestrate.py  plan/apply/remove over every event source of a site (one backend each)
minio.py        MinIO webhook targets and bucket notifications
dcache.py       dCache sources through NiFi (nifi_flow.py builds the flow from a table
                of processors, nifi_client.py talks to NiFi); `via: relay` ones are the
                light relay's (oscar_iac/dcache/)
oscar_service.py  the OSCAR service an event source feeds; base.py the backend protocol
"""

from oscar_iac.events.base import Action, Change, EventBackend
from oscar_iac.events.orchestrate import BACKENDS, run

__all__ = ["BACKENDS", "Action", "Change", "EventBackend", "run"]
