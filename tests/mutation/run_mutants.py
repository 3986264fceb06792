"""`make mutants`: mutation testing (mutmut) on the modules where a silent bug loses data
or leaks, with the fixed scope of tests/mutation/scope.toml.

mutmut names a mutant after its module path and strips only a leading `src.` from it
(mutmut 3.8 `utils/format_utils.py` get_mutant_name; `utils/file_utils.py`
setup_source_paths puts `mutants/src` first on sys.path). Our package lives in `tools/`,
so the run works on a copy of the checkout (the files git tracks or does not ignore, as
they are in the working tree) in which `tools/` is named `src/`: the repository itself is
never mutated. Prints each surviving mutant, a line per module, and last
`mutants killed=K survived=S score=..`.

Usage: python tests/mutation/run_mutants.py [--keep] [--max-children N] [NAME_GLOB ...]
NAME_GLOB (e.g. 'oscar_iac.site.rules.*') runs only the matching mutants, to iterate on
one module; the summary then counts only the mutants that were checked. MUTANTS_WORK
names another copy folder than .cache/mutants-work (one per person on a shared cache).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = Path(os.environ.get("MUTANTS_WORK") or REPO / ".cache" / "mutants-work")
# Counted as detected: the tests failed, or the mutant hung past mutmut's timeout.
DETECTED = {"killed", "timeout"}
# Counted as not detected: the tests passed, or no test reached the mutant at all.
MISSED = {"survived", "no tests"}
RESULT = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


def _copy_checkout(dest: Path, only: str = "") -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z", *([only] if only else [])],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        rel = Path(os.fsdecode(raw))
        src = REPO / rel
        if not src.is_file() or src.is_symlink():
            continue
        target = dest / ("src" / rel.relative_to("tools") if rel.parts[0] == "tools" else rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def _config(scope: dict[str, list[str]]) -> str:
    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(f'"{i}"' for i in items) + "]"

    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {toml_list(['src/' + m for m in scope['modules']])}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(scope['tests'])}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        'also_copy = ["templates", "versions.yml", "inventories", "roles", "playbooks"]\n'
    )


def _module_of(name: str) -> str:
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.startswith(("x_", "xǁ")):
            return ".".join(parts[:i])
    return name.rsplit(".", 1)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep",
        action="store_true",
        help="reuse the previous run's copy and results; its tests/ is copied afresh",
    )
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument(
        "--report", action="store_true", help="only summarize the copy's results (no run)"
    )
    parser.add_argument("names", nargs="*", help="only the mutants matching these globs")
    args = parser.parse_args()
    scope = tomllib.loads((HERE / "scope.toml").read_text())
    equivalent: dict[str, str] = tomllib.loads((HERE / "equivalent.toml").read_text()).get(
        "equivalent", {}
    )
    if args.report and not WORK.exists():
        print(f"mutants: no results at {WORK}", file=sys.stderr)
        return 1
    if args.report:
        pass  # the copy and its results as they are
    elif not args.keep or not WORK.exists():
        shutil.rmtree(WORK, ignore_errors=True)
        WORK.mkdir(parents=True)
        print(f"mutants: copying the checkout to {WORK} (tools/ as src/)", flush=True)
        _copy_checkout(WORK)
        with (WORK / "pyproject.toml").open("a") as fh:
            fh.write(_config(scope))
    else:
        _copy_checkout(WORK, only="tests")
    env = {
        **os.environ,
        "OSCAR_IAC_SHARED": os.environ.get("OSCAR_IAC_SHARED", str(REPO.parent / "shared")),
    }
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    print(
        f"mutants: mutmut run on {len(scope['modules'])} modules with {len(scope['tests'])} "
        "test files (several minutes on 2 cores)",
        flush=True,
    )
    run = subprocess.run(
        [mutmut, "run", "--max-children", str(args.max_children), *args.names]
        if not args.report
        else ["true"],
        cwd=WORK,
        env=env,
    )
    if run.returncode not in (0, 1):
        print(f"mutants: mutmut run failed (exit {run.returncode})", file=sys.stderr)
        return run.returncode
    listing = subprocess.run(
        [mutmut, "results", "--all", "true"],
        cwd=WORK,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    per_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    for line in listing.splitlines():
        m = RESULT.match(line)
        if not m:
            continue
        name, status = m["name"], m["status"].strip()
        if args.names and not any(fnmatch.fnmatchcase(name, g) for g in args.names):
            continue
        # A listed equivalent mutant survives by definition: it counts as equivalent
        # whether or not this run re-checked it (a `--keep` re-check may skip them).
        if status in MISSED | {"not checked"} and name in equivalent:
            status = "equivalent"
        per_module[_module_of(name)][status] += 1
        if status in MISSED:
            survivors.append(f"{status:>10}  {name}")
    if not per_module:
        print("mutants: mutmut reported no mutant", file=sys.stderr)
        return 1
    for line in survivors:
        print(line)
    total: Counter[str] = Counter()
    for module in sorted(per_module):
        counts = per_module[module]
        total.update(counts)
        detected = sum(counts[s] for s in DETECTED)
        missed = sum(counts[s] for s in MISSED)
        print(
            f"{module}: killed={detected} survived={missed} "
            f"equivalent={counts['equivalent']} other={sum(counts.values()) - detected - missed - counts['equivalent']}"
        )
    killed = sum(total[s] for s in DETECTED)
    survived = sum(total[s] for s in MISSED)
    unchecked = sum(total.values()) - killed - survived - total["equivalent"]
    if unchecked:
        print(f"mutants: {unchecked} mutants were not checked (mutmut stopped early?)")
    score = 100.0 * killed / (killed + survived) if killed + survived else 0.0
    print(f"mutants killed={killed} survived={survived} score={score:.1f}%")
    return 0 if killed + survived and not unchecked else 1


if __name__ == "__main__":
    sys.exit(main())
