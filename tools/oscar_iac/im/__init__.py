"""Deployment through the Infrastructure Manager: embedded server, client, state, lifecycle."""
