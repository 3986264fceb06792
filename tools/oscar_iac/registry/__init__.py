"""A site's models as OSCAR services: plan, apply (concurrently), remove.

services.py   the site's catalog, the services it wants, and plan/apply against OSCAR
              (only services labelled as this tool's for this site are ever touched)
"""

from __future__ import annotations

from oscar_iac.registry.services import (
    HASH_LABEL,
    SITE_LABEL,
    ServiceChange,
    SiteCatalog,
    apply,
    client,
    desired,
    load_catalog,
    plan,
    site_catalog,
)

__all__ = [
    "HASH_LABEL",
    "SITE_LABEL",
    "ServiceChange",
    "SiteCatalog",
    "apply",
    "client",
    "desired",
    "load_catalog",
    "plan",
    "site_catalog",
]
