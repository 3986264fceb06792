"""The typed boundary for untrusted text: every string a site file gives is one of these.

A site file is data. Whatever it says reaches an Ansible inventory, a TOSCA/RADL
document, an SSH command line or a URL only as one of the types below, each checked
here once: hosts, users, DNS names, URLs, paths, identifiers and bounded numbers. None
of them may start with '-' (an option to ssh or a tool), hold whitespace where a single
word is expected, quotes, ';', '{{'/'{%' or control characters (newlines).

The bounds are defined once here and shared by the site schema and the CLI flags.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, AnyHttpUrl, Field

from oscar_iac.secretfile import redact_url

# --------------------------------------------------------------------------- bounds

# Workers of one cluster (cloud VMs, listed machines or hosts).
WORKERS_MAX = 1000
# Seconds any wait may last (IM, the platform, the smoke test): one day.
TIMEOUT_MAX = 86400.0
CPUS_MAX = 512
GPUS_MAX = 16
REPLICAS_MAX = 100
PORT_MIN, PORT_MAX = 1, 65535
# Sizes between 1 MiB and 1 PiB: below, nothing runs (OSCAR memory is given in Mi);
# above, no VM, disk or container of any site.
SIZE_MIN, SIZE_MAX = 2**20, 2**50
# Longest free text (description) and longest path we accept.
TEXT_MAX = 1000
PATH_MAX = 4096


def check_timeout(value: float, what: str = "") -> float:
    """A wait in seconds: finite, more than 0, at most TIMEOUT_MAX (one day)."""
    if not math.isfinite(value) or not 0 < value <= TIMEOUT_MAX:
        raise ValueError(
            f"{what + ': ' if what else ''}expected a number of seconds more than 0 and at "
            f"most {TIMEOUT_MAX:.0f}; got {value}"
        )
    return value


def check_workers(value: int, what: str = "workers") -> int:
    if not 0 <= value <= WORKERS_MAX:
        raise ValueError(f"{what} must be between 0 and {WORKERS_MAX}; got {value}")
    return value


Timeout = Annotated[float, Field(gt=0, le=TIMEOUT_MAX, allow_inf_nan=False)]
WorkerCount = Annotated[int, Field(ge=0, le=WORKERS_MAX)]
Port = Annotated[int, Field(ge=PORT_MIN, le=PORT_MAX)]

# --------------------------------------------------------------------------- text

# Characters no single-word value may hold: whitespace, quotes, shell and template
# punctuation, backslash, control characters.
# C1 controls (U+0080-U+009F: NEL, U+0085, is a line break to YAML) and the Unicode line
# and paragraph separators count as control characters too.
_UNSAFE_WORD = re.compile(r"[\s'\"`;|&$<>\\{}()\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TEMPLATE = re.compile(r"\{\{|\{%|\{#")


def _show(value: str) -> str:
    return repr(value[:80] + ("..." if len(value) > 80 else ""))


def check_word(value: str) -> str:
    """A single word: an identifier, a name, a key, a tag (1-253 characters)."""
    if not value or len(value) > 253:
        raise ValueError(f"expected 1-253 characters; got {len(value)}")
    if value.startswith("-"):
        raise ValueError(f"must not start with '-'; got {_show(value)}")
    if _UNSAFE_WORD.search(value):
        raise ValueError(
            "expected a single word without spaces, quotes, ';', '$', braces or control "
            f"characters; got {_show(value)}"
        )
    return value


def check_text(value: str) -> str:
    """Free text on one line (a description): no control characters, no template."""
    if len(value) > TEXT_MAX:
        raise ValueError(f"expected at most {TEXT_MAX} characters; got {len(value)}")
    if _CONTROL.search(value):
        raise ValueError(f"expected one line without control characters; got {_show(value)}")
    if _TEMPLATE.search(value):
        raise ValueError(f"must not hold template markers ('{{{{', '{{%'); got {_show(value)}")
    return value


def check_optional_text(value: str) -> str:
    """Like check_text, for short affixes (prefix/suffix) that may be empty."""
    if value and _UNSAFE_WORD.search(value):
        raise ValueError(
            f"expected no spaces, quotes, ';', '$', braces or control characters; got {_show(value)}"
        )
    return value


# --------------------------------------------------------------------------- names

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_HOST_LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# POSIX portable user names (useradd's default NAME_REGEX, lower case first).
POSIX_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


def check_dns_label(value: str) -> str:
    if not DNS_LABEL_RE.fullmatch(value):
        raise ValueError(
            "expected a DNS label: lowercase letters, digits and '-', "
            f"1-63 characters, starting and ending with a letter or digit; got {_show(value)}"
        )
    return value


def check_dns_domain(value: str) -> str:
    if len(value) > 253:
        raise ValueError(f"a DNS name is at most 253 characters; got {len(value)}")
    labels = value.split(".")
    if len(labels) < 2:
        raise ValueError(
            f"expected a DNS domain with at least two labels (e.g. 'example.org'); got {_show(value)}"
        )
    for label in labels:
        if not DNS_LABEL_RE.fullmatch(label):
            raise ValueError(
                f"expected a DNS domain of labels made of lowercase letters, digits and '-'; "
                f"label {_show(label)} of {_show(value)} is not one"
            )
    return value


def check_host(value: str) -> str:
    """An IP address or a DNS host name (what SSH connects to)."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if (
        not name
        or len(name) > 253
        or not all(_HOST_LABEL_RE.fullmatch(label) for label in name.split("."))
        or name.rsplit(".", 1)[-1].isdigit()
    ):
        raise ValueError(
            "expected an IP address or a DNS host name (letters, digits, '-' and '.', "
            f"no leading '-', no spaces, quotes or ';'); got {_show(value)}"
        )
    return value


def check_user(value: str) -> str:
    if not POSIX_USER_RE.fullmatch(value):
        raise ValueError(
            "expected a POSIX user name: lowercase letters, digits, '_', '.' and '-', "
            f"1-32 characters, starting with a letter or '_'; got {_show(value)}"
        )
    return value


def check_email(value: str) -> str:
    if (
        not re.fullmatch(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$", value)
        or len(value) > 254
    ):
        raise ValueError(f"expected an e-mail address; got {_show(value)}")
    return value


# --------------------------------------------------------------------------- URLs and paths


def check_no_userinfo(value: AnyHttpUrl) -> AnyHttpUrl:
    if value.username is not None or value.password is not None:
        raise ValueError(
            f"must not carry a user or password ({redact_url(str(value))}): give credentials "
            "as secret references in their own fields"
        )
    return value


def check_url_text(value: str) -> str:
    """A URL given as text (git, file://, egi://, ost://): one word, no userinfo."""
    check_word(value)
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValueError(f"expected a URL; got {_show(value)}") from exc
    if not parts.scheme:
        raise ValueError(f"expected a URL with a scheme (https://...); got {_show(value)}")
    if parts.scheme not in ("ssh", "git+ssh") and "@" in parts.netloc:
        raise ValueError(
            f"must not carry a user or password ({redact_url(value)}): give credentials "
            "as secret references in their own fields"
        )
    return value


def check_path(value: str) -> str:
    """A file or folder path: 1-4096 characters, no control characters, no leading '-'."""
    if not value or len(value) > PATH_MAX:
        raise ValueError(f"expected a path of 1-{PATH_MAX} characters; got {len(value)}")
    if value.startswith("-"):
        raise ValueError(f"a path must not start with '-'; got {_show(value)}")
    if _CONTROL.search(value) or _TEMPLATE.search(value):
        raise ValueError(
            f"expected a path without control characters or template markers; got {_show(value)}"
        )
    return value


HttpUrl = Annotated[AnyHttpUrl, AfterValidator(check_no_userinfo)]
Host = Annotated[str, AfterValidator(check_host)]
PosixUser = Annotated[str, AfterValidator(check_user)]
DnsLabel = Annotated[str, AfterValidator(check_dns_label)]
DnsDomain = Annotated[str, AfterValidator(check_dns_domain)]
Word = Annotated[str, AfterValidator(check_word)]
Text = Annotated[str, AfterValidator(check_text)]
Affix = Annotated[str, AfterValidator(check_optional_text)]
UrlText = Annotated[str, AfterValidator(check_url_text)]
SitePath = Annotated[str, AfterValidator(check_path)]
Email = Annotated[str, AfterValidator(check_email)]

# --------------------------------------------------------------------------- sizes

SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)\s*$")
_SIZE_FACTORS = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}


def size_to_bytes(text: str) -> int:
    """'8 GiB' -> 8589934592. Raises ValueError on anything else."""
    m = SIZE_RE.fullmatch(text)
    if not m:
        raise ValueError(f"expected a size such as '8 GiB' or '512 MiB', got {text[:80]!r}")
    value = float(m.group(1)) * _SIZE_FACTORS[m.group(2)]
    if not math.isfinite(value) or not SIZE_MIN <= value <= SIZE_MAX:
        raise ValueError(
            f"expected a size between 1 MiB and 1 PiB such as '8 GiB', got {text[:80]!r}"
        )
    return int(value)


def check_size(value: str) -> str:
    size_to_bytes(value)
    return value


Size = Annotated[str, AfterValidator(check_size), Field(description="a size such as '8 GiB'")]
