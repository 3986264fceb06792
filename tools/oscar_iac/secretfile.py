"""The one secret-file reader and URL redaction, shared with the dCache listener (which
must stay standard-library only where it runs alone): see
`oscar_iac.dcache.listener.secretfile`."""

from oscar_iac.dcache.listener.secretfile import (
    MAX_SECRET_BYTES,
    NEVER,
    SecretFileError,
    origin,
    read_secret_bytes,
    read_secret_text,
    redact_url,
)

__all__ = [
    "MAX_SECRET_BYTES",
    "NEVER",
    "SecretFileError",
    "origin",
    "read_secret_bytes",
    "read_secret_text",
    "redact_url",
]
