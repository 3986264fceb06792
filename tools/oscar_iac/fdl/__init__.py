"""OSCAR service definitions (FDL) generated from catalog metadata (generate.py); the
service names come from the naming rule below (oscar_iac/naming.py)."""

from oscar_iac.fdl.generate import MANAGED_LABEL, fdl_document, service_definition
from oscar_iac.naming import service_name

__all__ = ["MANAGED_LABEL", "fdl_document", "service_definition", "service_name"]
