"""Start IM's own service with a config file of ours (run as a module, in a subprocess).

IM reads its configuration only from fixed places (its package folder, /etc/im).
This applies a per-site `im.cfg` with IM's own option parser, then hands over to
`IM.im_service.main()`, so nothing is written outside the site's state folder.

    python -m oscar_iac.im.bootstrap /path/to/state/im/im.cfg [--idle SECONDS --used FILE]

With `--idle`, a watchdog stops the server once FILE (touched by every oscar-iac
command that uses this IM) is older than SECONDS.
"""

from __future__ import annotations

import configparser
import os
import signal
import sys
import threading
import time


def _watch_idle(used: str, idle: float) -> None:
    """Stop this process group once `used` has not been touched for `idle` seconds."""

    started = time.time()

    def loop() -> None:
        while True:
            time.sleep(min(5.0, idle / 4))
            try:
                last = os.stat(used).st_mtime
            except OSError:
                last = 0.0
            # The command that started us touches `used` once we answer; until then
            # (a slow start on a busy machine) the idle clock runs from a later point.
            if last < started:
                last = started + 120
            if time.time() - last > idle:
                record = os.path.join(os.path.dirname(used), "im.json")
                try:
                    with open(record) as fh:
                        if f'"pid": {os.getpid()},' in fh.read():
                            os.unlink(record)
                except OSError:
                    pass
                os.killpg(os.getpgid(0), signal.SIGTERM)
                time.sleep(10)
                os._exit(0)

    threading.Thread(target=loop, name="oscar-iac-idle", daemon=True).start()


def main() -> None:
    cfg_path = sys.argv[1]
    args = sys.argv[2:]
    if "--idle" in args and "--used" in args:
        _watch_idle(args[args.index("--used") + 1], float(args[args.index("--idle") + 1]))
    # IM's database holds each infrastructure's document and auth: owner-only files.
    os.umask(0o077)
    from IM import config as im_config  # IM's server code: only in the IM process itself

    parser = configparser.ConfigParser()
    parser.read(cfg_path)
    im_config.parse_options(parser, "im", im_config.Config)
    from IM import im_service

    sys.argv = ["im_service"]
    im_service.main()


if __name__ == "__main__":
    main()
