"""Run the listener: `python -m oscar_iac.dcache.listener`, or, where this folder was copied
on its own (relay hosts, the NiFi pod), `python3 <folder> --config CONFIG.json`."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

if __package__:
    from .cli import main
else:
    # Run as a folder (or as this file): Python put the folder itself on sys.path. Import
    # it as a package from its parent instead, so its modules import each other relatively
    # and none of them shadows a standard-library module.
    _here = Path(__file__).resolve().parent
    sys.path[0] = str(_here.parent)
    main = importlib.import_module(f"{_here.name}.cli").main

sys.exit(main())
