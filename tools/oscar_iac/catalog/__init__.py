"""The DEEP / AI4OS Open Catalog: module metadata read into one typed model."""

from oscar_iac.catalog.model import CatalogModel, Resources
from oscar_iac.catalog.read import read_folder, read_module

__all__ = ["CatalogModel", "Resources", "read_folder", "read_module"]
