"""Find the JDK (21+) and Maven that run the flowcheck module (NiFi 2.x needs Java 21).

.ci/install-system.sh installs Maven from Debian and checks that a JDK 21+ is there (this
machine kind ships a Temurin 25 JDK under /usr/lib/jvm beside Debian's OpenJDK 17).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

MIN_JAVA = 21


def _major(home: Path) -> int:
    release = home / "release"
    if not release.is_file():
        return 0
    m = re.search(r'^JAVA_VERSION="(\d+)', release.read_text(), re.M)
    return int(m.group(1)) if m else 0


def java_home() -> Path | None:
    """$JAVA_HOME when it is 21+, else the newest JDK 21+ under /usr/lib/jvm."""
    env = os.environ.get("JAVA_HOME")
    if env and _major(Path(env)) >= MIN_JAVA and (Path(env) / "bin" / "javac").exists():
        return Path(env)
    found = [
        p
        for p in Path("/usr/lib/jvm").glob("*")
        if p.is_dir() and not p.is_symlink() and (p / "bin" / "javac").exists()
    ]
    best = sorted(found, key=_major, reverse=True)
    return best[0] if best and _major(best[0]) >= MIN_JAVA else None


def maven() -> str | None:
    return shutil.which("mvn")
