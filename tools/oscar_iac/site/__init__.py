"""Site descriptions: the typed model and its loader."""

from oscar_iac.site.load import LoadedSite, load_site
from oscar_iac.site.model import Site

__all__ = ["LoadedSite", "Site", "load_site"]
