"""Scoring a translator on Spider-style data: questions, gold SQL and SQLite files.

`evaluate` runs every gold query and asks `answer_fn(db_id, db_path, question)` for
`(status, sql, rows)`. Status "ok" means the system answered with rows, "error" that it
answered with SQL that failed; both count as answered. Any other status ("unanswerable",
"clarify", "refused") is a decline. A question is correct when the answer's rows equal
the gold rows as multisets (in order too when the gold query orders its result).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp

from dana.integrations.sqlite_schema import introspect_sqlite, open_readonly
from dana.nl2sql.base import Request, Translator
from dana.schema import Context, Schema

AnswerFn = Callable[[str, str, str], tuple[str, str | None, list[tuple] | None]]
ANSWERED = ("ok", "error")


@dataclass(frozen=True)
class Question:
    db_id: str
    question: str
    query: str
    db_path: str


@dataclass(frozen=True)
class Outcome:
    db_id: str
    question: str
    gold: str
    status: str
    sql: str | None
    correct: bool
    seconds: float

    @property
    def answered(self) -> bool:
        return self.status in ANSWERED


@dataclass
class Score:
    total: int = 0
    answered: int = 0
    correct: int = 0

    @property
    def execution_accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def answered_precision(self) -> float:
        return self.correct / self.answered if self.answered else 0.0

    @property
    def coverage(self) -> float:
        return self.answered / self.total if self.total else 0.0

    def add(self, outcome: Outcome) -> None:
        self.total += 1
        self.answered += outcome.answered
        self.correct += outcome.correct


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    overall: Score = field(default_factory=Score)
    per_database: dict[str, Score] = field(default_factory=dict)

    @property
    def execution_accuracy(self) -> float:
        return self.overall.execution_accuracy

    @property
    def answered_precision(self) -> float:
        return self.overall.answered_precision

    @property
    def coverage(self) -> float:
        return self.overall.coverage

    @property
    def median_seconds(self) -> float:
        return statistics.median(o.seconds for o in self.outcomes) if self.outcomes else 0.0

    def subset(self, db_ids: Sequence[str]) -> Score:
        score = Score()
        for outcome in self.outcomes:
            if outcome.db_id in db_ids:
                score.add(outcome)
        return score

    def to_markdown(self) -> str:
        lines = [
            "| scope | questions | execution accuracy | answered precision | coverage |",
            "|---|---|---|---|---|",
            _row("all", self.overall),
        ]
        lines += [_row(db, score) for db, score in sorted(self.per_database.items())]
        lines.append("")
        lines.append(f"median seconds per question: {self.median_seconds:.4f}")
        return "\n".join(lines)


def _row(name: str, score: Score) -> str:
    return (
        f"| {name} | {score.total} | {score.execution_accuracy:.3f} | "
        f"{score.answered_precision:.3f} | {score.coverage:.3f} |"
    )


def load_questions(folder: str | Path) -> list[Question]:
    """The questions of a Spider-style folder: dev_subset.json (or dev.json) and database/."""
    root = Path(folder)
    source = root / "dev_subset.json"
    if not source.exists():
        source = root / "dev.json"
    items = json.loads(source.read_text())
    return [
        Question(
            db_id=item["db_id"],
            question=item["question"],
            query=item["query"],
            db_path=str(root / "database" / item["db_id"] / f"{item['db_id']}.sqlite"),
        )
        for item in items
    ]


def run_sqlite(db_path: str, sql: str) -> list[tuple]:
    with open_readonly(db_path) as connection:
        return connection.execute(sql).fetchall()


def is_ordered(sql: str) -> bool:
    """Whether the outermost query orders its rows (an ORDER BY in a subquery does not)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return " order by " in f" {sql.lower()} "
    return tree.args.get("order") is not None if isinstance(tree, exp.Query) else False


def execution_match(gold_rows: list[tuple], pred_rows: list[tuple], ordered: bool) -> bool:
    """Whether two results are equal as multisets of rows (as lists when `ordered`).

    Columns may come in another order: a permutation of the predicted columns that makes
    the results equal counts as a match.

    >>> execution_match([(1, "a"), (2, "b")], [("b", 2), ("a", 1)], ordered=False)
    True
    >>> execution_match([(1,), (2,)], [(2,), (1,)], ordered=True)
    False
    """
    gold = [_normal(r) for r in gold_rows]
    pred = [_normal(r) for r in pred_rows]
    if len(gold) != len(pred):
        return False
    if not gold:
        return True
    width = len(gold[0])
    if any(len(r) != width for r in pred):
        return False
    for order in _permutations(gold, pred, width):
        permuted = [tuple(r[i] for i in order) for r in pred]
        if _same(gold, permuted, ordered):
            return True
    return False


def _permutations(gold: list[tuple], pred: list[tuple], width: int) -> list[tuple[int, ...]]:
    identity = tuple(range(width))
    if width > 6:
        return [identity]
    # Only orders that pair columns with equal value multisets can match.
    gold_columns = [sorted(map(repr, (r[i] for r in gold))) for i in range(width)]
    pred_columns = [sorted(map(repr, (r[i] for r in pred))) for i in range(width)]
    options = [
        [j for j in range(width) if pred_columns[j] == gold_columns[i]] for i in range(width)
    ]
    found = [identity]
    for order in itertools.product(*options):
        if len(set(order)) == width and order != identity:
            found.append(order)
    return found


def _same(gold: list[tuple], pred: list[tuple], ordered: bool) -> bool:
    if ordered:
        return gold == pred
    return sorted(map(repr, gold)) == sorted(map(repr, pred))


def _normal(row: Sequence[object]) -> tuple:
    return tuple(_value(v) for v in row)


def _value(value: object) -> object:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return round(float(value), 6)
    return value


def evaluate(folder: str | Path, answer_fn: AnswerFn, limit: int | None = None) -> Report:
    questions = load_questions(folder)[:limit]
    report = Report()
    for question in questions:
        outcome = score_question(question, answer_fn)
        report.outcomes.append(outcome)
        report.overall.add(outcome)
        report.per_database.setdefault(question.db_id, Score()).add(outcome)
    return report


def score_question(question: Question, answer_fn: AnswerFn) -> Outcome:
    gold_rows = run_sqlite(question.db_path, question.query)
    started = time.perf_counter()
    status, sql, rows = answer_fn(question.db_id, question.db_path, question.question)
    seconds = time.perf_counter() - started
    correct = (
        status == "ok"
        and rows is not None
        and execution_match(gold_rows, rows, is_ordered(question.query))
    )
    return Outcome(question.db_id, question.question, question.query, status, sql, correct, seconds)


def direct_answer_fn(translator: Translator, dialect: str = "sqlite") -> AnswerFn:
    """An answer function that translates with the whole schema as context and runs the SQL
    on the SQLite file read-only, with no retrieval and no guard in between."""
    schemas: dict[str, Schema] = {}

    def answer(db_id: str, db_path: str, question: str) -> tuple[str, str | None, list | None]:
        if db_path not in schemas:
            schemas[db_path] = introspect_sqlite(db_path)
        context = Context(schema=schemas[db_path])
        translation = asyncio.run(translator.translate(Request(question, context, dialect)))
        if translation.kind != "sql" or not translation.sql:
            return translation.kind, None, None
        try:
            return "ok", translation.sql, run_sqlite(db_path, translation.sql)
        except Exception:  # noqa: BLE001 - any database error is a wrong answer, not a crash
            return "error", translation.sql, None

    return answer
