"""dCache storage-events listener: completed uploads -> a spool folder or OSCAR's /job.

Standard library only (Python 3.9+). This folder is copied as it is where it runs: on
relay hosts (roles/dcache_relay, a systemd service) and into the NiFi pod (roles/nifi,
started by roles/nifi/files/run-listener.sh); there it runs as `python3 <folder>
--config CONFIG.json`. In-process (`oscar-iac events relay`) it is
`oscar_iac.dcache.listener`. One job per module, imported relatively only:

  errors       errors and exit codes        config       CONFIG.json, checked
  credentials  secrets (env/file), TLS      transport    the HTTP client
  sse          Server-Sent Events parsing   channel      dCache channels/subscriptions
  checkpoint   the durable resume point     sinks        spool folder / OSCAR /job
  listen       one source followed          cli          the command line
"""

from __future__ import annotations

from .cli import main
from .config import Config, load_config, parse_config
from .errors import LOG, ConfigError, ListenerError, Refused, SinkUnavailable
from .listen import Listener

__all__ = [
    "LOG",
    "Config",
    "ConfigError",
    "Listener",
    "ListenerError",
    "Refused",
    "SinkUnavailable",
    "load_config",
    "main",
    "parse_config",
]
