"""Storage events wired to OSCAR services: external MinIO webhooks, dCache via NiFi."""
