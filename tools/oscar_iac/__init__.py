"""oscar-iac: one declarative site description to a working OSCAR platform."""

__version__ = "0.1.0"
