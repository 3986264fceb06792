"""Storage events wired to OSCAR services: external MinIO webhooks, dCache via NiFi."""

from oscar_iac.events.base import Action, Change, EventBackend
from oscar_iac.events.orchestrate import BACKENDS, run

__all__ = ["BACKENDS", "Action", "Change", "EventBackend", "run"]
