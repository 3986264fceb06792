"""Stand-in for tools/oscar_iac/dcache/listener/ in the flowcheck run of the NiFi flow.

NiFi's real ExecuteStreamCommand starts the real launcher (roles/nifi/files/run-listener.sh),
which starts this instead of the listener (no dCache can run here; the listener has its own
tests against a dCache test server). It checks what the launcher hands over and spools one
event the way the listener does: a hidden temp file, then an atomic rename.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    path = Path(args.config)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        print(f"config {path} is readable by others ({oct(mode)})", file=sys.stderr)
        return 3
    config = json.loads(path.read_text())
    env = config["auth"].get("token_env") or config["auth"].get("password_env")
    credential = os.environ.get(env or "", "")
    if not credential:
        print(f"credential variable {env} is empty", file=sys.stderr)
        return 3
    spool = Path(config["sink"]["dir"])
    event = {
        "source": config.get("source", "dcache"),
        "event": "IN_CLOSE_WRITE",
        "path": config["paths"][0] + "/file.csv",
        "name": "file.csv",
        "directory": config["paths"][0],
        "event_id": "ch1:1",
        "sse_id": "1",
        "channel": config["endpoint"] + "/events/channels/ch1",
        "endpoint": config["endpoint"],
        # Proves the credential arrived without writing it anywhere.
        "credential_sha256": hashlib.sha256(credential.encode()).hexdigest(),
    }
    tmp = spool / ".ch1_1.json.tmp"
    tmp.write_text(json.dumps(event, sort_keys=True))
    os.replace(tmp, spool / "ch1_1.json")
    print("spooled 1 event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
