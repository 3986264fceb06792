"""JSON schemas of the custom resources the roles render (kubernetes-validate has
only the built-in kinds). Written from the projects' API documentation:
k3s' helm-controller (`helm.cattle.io/v1` HelmChart) and cert-manager
(`cert-manager.io/v1` ClusterIssuer). Stricter than the API servers, which prune
unknown fields silently: a misspelt field is an error here instead of a no-op there.
"""

from __future__ import annotations

from typing import Any

_NAME_REF: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "additionalProperties": False,
}

_METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

HELMCHART: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "helm.cattle.io/v1"},
        "kind": {"const": "HelmChart"},
        "metadata": {**_METADATA, "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["chart"],
            "additionalProperties": False,
            "properties": {
                "chart": {"type": "string", "minLength": 1},
                "repo": {"type": "string"},
                "version": {"type": "string"},
                "targetNamespace": {"type": "string"},
                "createNamespace": {"type": "boolean"},
                "valuesContent": {"type": "string"},
                "set": {"type": "object"},
                "chartContent": {"type": "string"},
                "bootstrap": {"type": "boolean"},
                "helmVersion": {"type": "string"},
                "jobImage": {"type": "string"},
                "timeout": {"type": "string"},
                "failurePolicy": {"enum": ["abort", "reinstall"]},
                "backOffLimit": {"type": "integer"},
                "authSecret": _NAME_REF,
                "authPassCredentials": {"type": "boolean"},
                "dockerRegistrySecret": _NAME_REF,
                "repoCA": {"type": "string"},
                "repoCAConfigMap": _NAME_REF,
                "insecureSkipTLSVerify": {"type": "boolean"},
                "plainHTTP": {"type": "boolean"},
                "takeOwnership": {"type": "boolean"},
                "podSecurityContext": {"type": "object"},
                "securityContext": {"type": "object"},
            },
        },
    },
}

CLUSTERISSUER: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"const": "ClusterIssuer"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {
                "selfSigned": {"type": "object"},
                "ca": {
                    "type": "object",
                    "required": ["secretName"],
                    "properties": {"secretName": {"type": "string"}},
                },
                "acme": {
                    "type": "object",
                    "required": ["server", "privateKeySecretRef"],
                    "properties": {
                        "email": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$"},
                        "server": {"type": "string", "pattern": r"^https://"},
                        "privateKeySecretRef": {**_NAME_REF, "required": ["name"]},
                        "solvers": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "vault": {"type": "object"},
                "venafi": {"type": "object"},
            },
        },
    },
}

# (apiVersion, kind) -> schema
CUSTOM: dict[tuple[str, str], dict[str, Any]] = {
    ("helm.cattle.io/v1", "HelmChart"): HELMCHART,
    ("cert-manager.io/v1", "ClusterIssuer"): CLUSTERISSUER,
}
