"""Run every benchmark of this folder, each appending its section to one report.

    .venv/bin/python -m bench [--report PATH] [NAME ...]

NAME picks modules by the part after `bench_` (`python -m bench guard retrieval`). Each
module `bench_*.py` must have a `main`; it gets `--report PATH` when its source knows
that option. `main(argv)` gets the arguments as a list; a `main()` without parameters
reads them from `sys.argv`, which is set for the call. A module that has no `main`, or
whose run fails, is named at the end and the runner exits with status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import re
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

FOLDER = Path(__file__).resolve().parent
ROOT = FOLDER.parent


def modules(names: list[str]) -> list[Path]:
    found = sorted(FOLDER.glob("bench_*.py"))
    if not names:
        return found
    wanted = {f"bench_{n.removeprefix('bench_').removesuffix('.py')}" for n in names}
    unknown = wanted - {p.stem for p in found}
    if unknown:
        raise SystemExit(f"no benchmark named {', '.join(sorted(unknown))} in {FOLDER}")
    return [p for p in found if p.stem in wanted]


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench.{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def arguments(path: Path, report: str) -> list[str]:
    # Only a module whose parser knows --report gets it; argparse stops at unknown options.
    knows_report = re.search(r"add_argument\(\s*[\"']--report[\"']", path.read_text())
    return ["--report", report] if knows_report else []


@contextlib.contextmanager
def argv_of(path: Path, argv: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = [str(path), *argv]
    try:
        yield
    finally:
        sys.argv = saved


def run(path: Path, report: str) -> str | None:
    """Run one benchmark; the reason it failed, or None."""
    module = load(path)
    main = getattr(module, "main", None)
    if not callable(main):
        return "it has no main()"
    argv = arguments(path, report)
    if not argv:
        print(f"note: {path.stem} has no --report option; it writes where it chooses")
    takes_argv = bool(inspect.signature(main).parameters)
    with argv_of(path, argv):
        try:
            main(argv) if takes_argv else main()
        except SystemExit as stop:
            if stop.code not in (None, 0):
                return f"it exited with status {stop.code}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--report",
        default=str(FOLDER / "report.md"),
        help="markdown file every benchmark appends to",
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    report = str(Path(args.report).resolve())

    failures: dict[str, str] = {}
    for path in modules(args.names):
        print(f"== {path.stem}", flush=True)
        started = time.perf_counter()
        try:
            problem = run(path, report)
        except Exception:
            traceback.print_exc()
            problem = "it raised an exception (traceback above)"
        if problem:
            failures[path.stem] = problem
        print(
            f"== {path.stem}: {'failed' if problem else 'done'} in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )

    for name, problem in failures.items():
        print(f"FAILED {name}: {problem}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
