"""The command line: `python3 listener --config CONFIG.json` (see the package docstring).

Exit codes: 0 stopped (SIGTERM/SIGINT), 2 bad config, 3 refused (dCache/OSCAR auth,
another client took the channel, OSCAR rejected an event), 75 OSCAR unreachable after
the bounded retries (the checkpoint stays before the undelivered event).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from .config import load_config
from .errors import LOG, ListenerError
from .listen import Listener


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="listener",
        description="dCache storage events -> spool folder or OSCAR /job (see module docstring).",
        epilog="Example: python3 listener --config /etc/oscar-iac/dcache-relay/edge.json",
    )
    parser.add_argument("--config", required=True, help="JSON config file (no secrets in it)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, format="%(asctime)s dcache-listener %(levelname)s %(message)s"
    )
    try:
        cfg = load_config(args.config)
        LOG.setLevel(cfg.log_level.upper())
        listener = Listener(cfg)
    except ListenerError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: listener.stop())
    LOG.info(
        "listening to %s for %s (source %s, sink %s)",
        cfg.endpoint,
        ", ".join(cfg.paths),
        cfg.source,
        cfg.sink.kind,
    )
    return listener.run()
