"""Kubernetes objects the roles render: offline validation before anything is applied."""
