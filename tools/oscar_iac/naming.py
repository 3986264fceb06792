"""The naming rule: a catalog module -> its OSCAR service name.

Below every package that needs it (catalog/read.py checks two modules do not collide,
site/rules.py checks each event source feeds one of the site's services, fdl/ writes the
service definitions, registry/, client/ and the smoke phase find the services), so it
imports nothing of this package; the site model takes OSCAR's limit on names from here.
"""

from __future__ import annotations

import hashlib
import re

# OSCAR names a Kubernetes service (and a Knative service) after the OSCAR
# service; its manager rejects names longer than 39 characters.
OSCAR_SERVICE_NAME_MAX = 39
SERVICE_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def service_name(module: str) -> str:
    """A stable OSCAR service name for a catalog module: DNS-label-safe, <= 39 characters.

    Long names keep a readable prefix and end in a hash of the whole module id, so
    the same module always maps to the same name and two long ones do not collide.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", module.lower()).strip("-") or "model"
    if len(slug) <= OSCAR_SERVICE_NAME_MAX:
        return slug
    digest = hashlib.sha256(module.encode()).hexdigest()[:8]
    return f"{slug[: OSCAR_SERVICE_NAME_MAX - 9].rstrip('-')}-{digest}"
