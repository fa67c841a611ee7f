"""Execution accuracy of the offline translator on the shared Spider sample.

    .venv/bin/python bench/bench_spider.py [--folder DIR] [--limit N] [--show wrong|declined]

Prints the report and appends it to bench/report.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dana.nl2sql.offline import OfflineTranslator  # noqa: E402
from dana.nl2sql.spider import Report, direct_answer_fn, evaluate  # noqa: E402

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider_dev10"
# Databases kept out of rule development, to see whether the rules generalise.
HELD_OUT = ("employee_hire_evaluation", "museum_visit")
REPORT = Path(__file__).resolve().parent / "report.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", default=str(DEFAULT_FOLDER))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--show", choices=("wrong", "declined", "right"), default=None)
    parser.add_argument("--db", default=None, help="only list outcomes of this database")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    report = evaluate(args.folder, direct_answer_fn(OfflineTranslator()), limit=args.limit)
    text = _summary(report)
    print(text)
    if args.show:
        _show(report, args.show, args.db)
    if not args.no_write:
        with REPORT.open("a") as out:
            out.write(text + "\n\n")


def _summary(report: Report) -> str:
    held_out = report.subset(HELD_OUT)
    developed = report.subset([db for db in report.per_database if db not in HELD_OUT])
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return "\n".join(
        [
            f"## Offline translator on Spider sample ({stamp})",
            "",
            report.to_markdown(),
            "",
            f"developed on: accuracy {developed.execution_accuracy:.3f}, "
            f"precision {developed.answered_precision:.3f}, coverage {developed.coverage:.3f}",
            f"held out ({', '.join(HELD_OUT)}): accuracy {held_out.execution_accuracy:.3f}, "
            f"precision {held_out.answered_precision:.3f}, coverage {held_out.coverage:.3f}",
        ]
    )


def _show(report: Report, kind: str, db: str | None) -> None:
    for outcome in report.outcomes:
        if db and outcome.db_id != db:
            continue
        wrong = outcome.answered and not outcome.correct
        if (
            (kind == "wrong" and wrong)
            or (kind == "declined" and not outcome.answered)
            or (kind == "right" and outcome.correct)
        ):
            print(f"- [{outcome.db_id}] {outcome.question}")
            print(f"    gold: {outcome.gold}")
            print(f"    pred: {outcome.sql} ({outcome.status})")


if __name__ == "__main__":
    main()
