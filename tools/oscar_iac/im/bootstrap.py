"""Start IM's own service with a config file of ours (run as a module, in a subprocess).

IM reads its configuration only from fixed places (its package folder, /etc/im).
This applies a per-site `im.cfg` with IM's own option parser, then hands over to
`IM.im_service.main()`, so nothing is written outside the site's state folder.

    python -m oscar_iac.im.bootstrap /path/to/state/im/im.cfg
"""

from __future__ import annotations

import configparser
import os
import sys


def main() -> None:
    cfg_path = sys.argv[1]
    # IM's database holds each infrastructure's document and auth: owner-only files.
    os.umask(0o077)
    from IM import config as im_config

    parser = configparser.ConfigParser()
    parser.read(cfg_path)
    im_config.parse_options(parser, "im", im_config.Config)
    from IM import im_service

    sys.argv = ["im_service"]
    im_service.main()


if __name__ == "__main__":
    main()
