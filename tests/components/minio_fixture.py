"""Fixtures for a real MinIO server (filled in by the events issue)."""
