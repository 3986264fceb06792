"""Fixtures for the OSCAR test double (filled in by the models issue)."""
