"""The listener's CONFIG.json: parsed and checked (unknown keys are refused; secrets only
through env vars or files, never in the file itself).

  endpoint      dCache frontend REST base, e.g. "https://dcache.example.org:3880/api/v1"
  paths         ["/data/in", ...]   directories to watch
  recursive     bool (default false)
  checkpoint    path of the checkpoint file
  auth          {"kind": "oidc", "token_env": NAME | "token_file": PATH}
              | {"kind": "basic", "username": U, "password_env": NAME | "password_file": PATH}
              | {"kind": "x509", "cert": PATH, "key": PATH (optional if in cert)}
  verify_tls    bool (default true)
  ca_bundle     path or null
  sink          {"kind": "spool", "dir": DIR}
              | {"kind": "oscar", "url": "<oscar>/job/<service>",
                 "token_env": NAME | "token_file": PATH   (the service's token), or
                 "oscar_user": U, "oscar_password_env": NAME | "oscar_password_file": PATH
                 (OSCAR's Basic-auth user: the service token is read from
                 GET <oscar>/system/services/<service> and read again after a 401),
                 "verify_tls": bool,
                 "ca_bundle": PATH|null, "concurrency": 16, "max_attempts": 8,
                 "timeout": 30, "backoff_initial": 0.5, "backoff_max": 30}
  optional:     "source" (name put in every event, default "dcache"),
                "client_id" (channel client id, default "oscar-iac-<source>"),
                "webdav" (WebDAV base URL; adds "url" to events),
                "channel_timeout" (seconds a channel survives without a client; PATCHed),
                "stream_idle_timeout" (s, default 120), "checkpoint_interval" (s, 0.2),
                "log_level" ("INFO")
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .secretfile import redact_url


@dataclass(frozen=True)
class Auth:
    kind: str
    token_env: str | None = None
    token_file: str | None = None
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Sink:
    kind: str
    dir: str | None = None
    url: str | None = None
    token_env: str | None = None
    token_file: str | None = None
    oscar_user: str | None = None
    oscar_password_env: str | None = None
    oscar_password_file: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None
    concurrency: int = 16
    max_attempts: int = 8
    timeout: float = 30.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


@dataclass(frozen=True)
class Config:
    endpoint: str
    paths: tuple[str, ...]
    checkpoint: str
    auth: Auth
    sink: Sink
    recursive: bool = False
    verify_tls: bool = True
    ca_bundle: str | None = None
    source: str = "dcache"
    client_id: str = ""
    webdav: str | None = None
    channel_timeout: int | None = None
    stream_idle_timeout: float = 120.0
    checkpoint_interval: float = 0.2
    log_level: str = "INFO"


_NONE = type(None)
_TOP: dict[str, tuple[type, ...]] = {
    "endpoint": (str,),
    "paths": (list,),
    "recursive": (bool,),
    "checkpoint": (str,),
    "auth": (dict,),
    "verify_tls": (bool,),
    "ca_bundle": (str, _NONE),
    "sink": (dict,),
    "source": (str,),
    "client_id": (str,),
    "webdav": (str, _NONE),
    "channel_timeout": (int, _NONE),
    "stream_idle_timeout": (int, float),
    "checkpoint_interval": (int, float),
    "log_level": (str,),
}
_REQUIRED = ("endpoint", "paths", "checkpoint", "auth", "sink")
_AUTH_KEYS = {
    "oidc": {"kind", "token_env", "token_file"},
    "basic": {"kind", "username", "password_env", "password_file"},
    "x509": {"kind", "cert", "key"},
}
_SINK_KEYS = {
    "spool": {"kind", "dir"},
    "oscar": {
        "kind",
        "url",
        "token_env",
        "token_file",
        "oscar_user",
        "oscar_password_env",
        "oscar_password_file",
        "verify_tls",
        "ca_bundle",
        "concurrency",
        "max_attempts",
        "timeout",
        "backoff_initial",
        "backoff_max",
    },
}
_PATH_RE = re.compile(r"^/(.*[^/])?$")  # dCache's inotify selector schema: "^/(.*[^/])?$"


def _fail(where: str, field_name: str, expected: str) -> ConfigError:
    return ConfigError(f"{where}: field '{field_name}': {expected}")


def _one_of(where: str, d: dict[str, Any], prefix: str, keys: tuple[str, str]) -> None:
    given = [k for k in keys if d.get(k)]
    if len(given) != 1:
        raise _fail(where, prefix, f"expected exactly one of {keys[0]!r} or {keys[1]!r}")


def parse_config(raw: Any, where: str = "config") -> Config:
    """Validate a config mapping; every problem names the field and what is expected."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    for key in raw:
        if key not in _TOP:
            raise _fail(where, key, f"unknown key; expected one of {', '.join(sorted(_TOP))}")
    for key in _REQUIRED:
        if key not in raw:
            raise _fail(where, key, "is required")
    for key, typ in _TOP.items():
        value = raw.get(key)
        if key in raw and (
            not isinstance(value, typ) or (isinstance(value, bool) and bool not in typ)
        ):
            names = " or ".join("null" if t is _NONE else t.__name__ for t in typ)
            raise _fail(where, key, f"expected {names}, got {type(value).__name__}")
    endpoint = raw["endpoint"].rstrip("/")
    if urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).netloc:
        raise _fail(where, "endpoint", "expected an http(s) URL such as https://host:3880/api/v1")
    # Credentials travel in their own fields, never in a URL (which gets logged).
    sink_url = (raw.get("sink") or {}).get("url") if isinstance(raw.get("sink"), dict) else None
    for key, value in (
        ("endpoint", endpoint),
        ("webdav", raw.get("webdav")),
        ("sink.url", sink_url),
    ):
        if isinstance(value, str) and "@" in urlsplit(value).netloc:
            raise _fail(
                where, key, f"must not carry a user or password ({redact_url(value)}); use 'auth'"
            )
    paths = raw["paths"]
    if not paths or not all(isinstance(p, str) and _PATH_RE.match(p) for p in paths):
        raise _fail(
            where, "paths", "expected a non-empty list of absolute paths without trailing '/'"
        )
    a = raw["auth"]
    kind = a.get("kind")
    if kind not in _AUTH_KEYS:
        raise _fail(where, "auth.kind", "expected 'oidc', 'basic' or 'x509'")
    for key in a:
        if key not in _AUTH_KEYS[kind]:
            raise _fail(where, f"auth.{key}", f"not used with kind {kind!r}")
    if kind == "oidc":
        _one_of(where, a, "auth", ("token_env", "token_file"))
    elif kind == "basic":
        if not a.get("username"):
            raise _fail(where, "auth.username", "is required for kind 'basic'")
        _one_of(where, a, "auth", ("password_env", "password_file"))
    elif not a.get("cert"):
        raise _fail(where, "auth.cert", "is required for kind 'x509' (certificate or proxy file)")
    auth = Auth(**{k: v for k, v in a.items()})
    s = raw["sink"]
    skind = s.get("kind")
    if skind not in _SINK_KEYS:
        raise _fail(where, "sink.kind", "expected 'spool' or 'oscar'")
    for key in s:
        if key not in _SINK_KEYS[skind]:
            raise _fail(where, f"sink.{key}", f"not used with kind {skind!r}")
    if skind == "spool":
        if not isinstance(s.get("dir"), str) or not s["dir"]:
            raise _fail(where, "sink.dir", "expected the spool folder")
    else:
        url = s.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^/]+(/.*)?/job/[^/]+$", url):
            raise _fail(where, "sink.url", "expected <oscar>/job/<service>")
        given = [
            k
            for k in ("token_env", "token_file", "oscar_password_env", "oscar_password_file")
            if s.get(k)
        ]
        if len(given) != 1:
            raise _fail(
                where,
                "sink",
                "expected exactly one of 'token_env', 'token_file' (the service token), "
                "'oscar_password_env' or 'oscar_password_file' (with 'oscar_user')",
            )
        if given[0].startswith("oscar_password") and not s.get("oscar_user"):
            raise _fail(where, "sink.oscar_user", "is required with an OSCAR password")
        for key, lo in (("concurrency", 1), ("max_attempts", 1)):
            if key in s and (
                not isinstance(s[key], int) or isinstance(s[key], bool) or s[key] < lo
            ):
                raise _fail(where, f"sink.{key}", f"expected an integer >= {lo}")
    sink = Sink(**{k: v for k, v in s.items()})
    source = raw.get("source", "dcache")
    return Config(
        endpoint=endpoint,
        paths=tuple(paths),
        checkpoint=raw["checkpoint"],
        auth=auth,
        sink=sink,
        recursive=raw.get("recursive", False),
        verify_tls=raw.get("verify_tls", True),
        ca_bundle=raw.get("ca_bundle"),
        source=source,
        client_id=raw.get("client_id") or f"oscar-iac-{source}",
        webdav=(raw.get("webdav") or None),
        channel_timeout=raw.get("channel_timeout"),
        stream_idle_timeout=float(raw.get("stream_idle_timeout", 120.0)),
        checkpoint_interval=float(raw.get("checkpoint_interval", 0.2)),
        log_level=raw.get("log_level", "INFO"),
    )


def load_config(path: str) -> Config:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from e
    return parse_config(raw, path)
