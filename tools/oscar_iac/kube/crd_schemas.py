"""JSON schemas of the custom resources the roles render (kubernetes-validate has
only the built-in kinds). Written from the projects' API documentation:
k3s' helm-controller (`helm.cattle.io/v1` HelmChart), cert-manager
(`cert-manager.io/v1` ClusterIssuer, Certificate) and the Gateway API v1.4.0
(`gateway.networking.k8s.io/v1` HTTPRoute, BackendTLSPolicy: the fields the roles use).
tests/roles/test_real_apiserver.py applies the same objects to a real kube-apiserver with
the upstream CRDs, which is the authority; these are for `manifests validate` offline. Stricter than the API servers, which prune
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

_GW_PARENT: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "group": {"type": "string"},
        "kind": {"type": "string"},
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "sectionName": {"type": "string"},
        "port": {"type": "integer"},
    },
}

CERTIFICATE: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"const": "Certificate"},
        "metadata": {**_METADATA, "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["secretName", "issuerRef"],
            "additionalProperties": False,
            "properties": {
                "secretName": {"type": "string"},
                "commonName": {"type": "string"},
                "dnsNames": {"type": "array", "items": {"type": "string"}},
                "issuerRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "kind": {"type": "string"},
                        "group": {"type": "string"},
                    },
                },
            },
        },
    },
}

HTTPROUTE: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "gateway.networking.k8s.io/v1"},
        "kind": {"const": "HTTPRoute"},
        "metadata": {**_METADATA, "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "parentRefs": {"type": "array", "items": _GW_PARENT},
                "hostnames": {"type": "array", "items": {"type": "string"}},
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "matches": {"type": "array", "items": {"type": "object"}},
                            "filters": {"type": "array", "items": {"type": "object"}},
                            "backendRefs": {"type": "array", "items": _GW_PARENT},
                        },
                    },
                },
            },
        },
    },
}

BACKENDTLSPOLICY: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "gateway.networking.k8s.io/v1"},
        "kind": {"const": "BackendTLSPolicy"},
        "metadata": {**_METADATA, "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["targetRefs", "validation"],
            "additionalProperties": False,
            "properties": {
                "targetRefs": {"type": "array", "items": _GW_PARENT},
                "validation": {
                    "type": "object",
                    "required": ["hostname"],
                    "additionalProperties": False,
                    "properties": {
                        "hostname": {"type": "string"},
                        "caCertificateRefs": {"type": "array", "items": _GW_PARENT},
                        "wellKnownCACertificates": {"enum": ["System"]},
                    },
                },
            },
        },
    },
}

# (apiVersion, kind) -> schema
CUSTOM: dict[tuple[str, str], dict[str, Any]] = {
    ("helm.cattle.io/v1", "HelmChart"): HELMCHART,
    ("cert-manager.io/v1", "ClusterIssuer"): CLUSTERISSUER,
    ("cert-manager.io/v1", "Certificate"): CERTIFICATE,
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): HTTPROUTE,
    ("gateway.networking.k8s.io/v1", "BackendTLSPolicy"): BACKENDTLSPOLICY,
}
