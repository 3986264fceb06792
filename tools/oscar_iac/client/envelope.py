"""Request bodies and answers of OSCAR's synchronous /run for DEEPaaS models.

The request is the AI4OS JSON envelope `{param: value, ..., "oscar-files": [{key,
file_format, data (base64)}]}`. The answer is what the service's script left in its
output folder, base64-encoded (a zip when it left several files), or its log when it
left nothing.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import zipfile
from pathlib import Path
from typing import Any

DEFAULT_INPUT_ARG = "files"


def envelope(data: str | Path | dict[str, Any], input_arg: str, **params: Any) -> dict[str, Any]:
    if isinstance(data, dict):
        return {**data, **params}
    path = Path(data)
    return {
        **params,
        "oscar-files": [
            {
                "key": input_arg,
                "file_format": path.suffix.lstrip(".") or "bin",
                "data": base64.b64encode(path.read_bytes()).decode(),
            }
        ],
    }


def decode_output(data: bytes) -> Any:
    """JSON becomes Python objects; a zip becomes {name: decoded}; other bytes stay bytes."""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return {name: decode_output(zf.read(name)) for name in zf.namelist()}
    try:
        return json.loads(data)
    except ValueError:
        return data


def decode_answer(text: str) -> Any | None:
    """The prediction in a /run answer, or None when the answer is not base64 (a log)."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decode_output(raw) if text.strip() else None
