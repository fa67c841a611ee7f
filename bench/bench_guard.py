"""Validations per second of the guard on a realistic mix of queries.

    .venv/bin/python bench/bench_guard.py [--rounds N] [--report PATH] [--no-write]

Most queries are reads with joins and aggregates, as translators write them; about one
in six is refused (a write, a dangerous function, an unknown name). Every query is
checked against a cached schema of several hundred tables. Prints one line and appends
a section to bench/report.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import logging
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlglot  # noqa: E402

from dana.schema import Column, Schema, Table  # noqa: E402
from dana.sql.guard import validate  # noqa: E402

REPORT = Path(__file__).resolve().parent / "report.md"
FILLER_TABLES = 400

# (dialect, sql, source dialect or None)
MIX: tuple[tuple[str, str, str | None], ...] = (
    ("postgres", "SELECT count(*) FROM customers", None),
    (
        "postgres",
        "SELECT c.name, sum(o.total) AS revenue FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY revenue DESC LIMIT 10",
        None,
    ),
    (
        "postgres",
        "SELECT date_trunc('month', created_at) AS month, count(*), avg(total) FROM orders WHERE created_at > now() - interval '1 year' GROUP BY 1 ORDER BY 1",
        None,
    ),
    (
        "postgres",
        "SELECT p.name, sum(i.quantity * i.unit_price) AS sales FROM order_items i JOIN products p ON p.id = i.product_id JOIN orders o ON o.id = i.order_id WHERE o.status = 'paid' GROUP BY p.name HAVING sum(i.quantity) > 10 ORDER BY sales DESC",
        None,
    ),
    (
        "postgres",
        "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '30 days') SELECT customer_id, sum(total) FROM recent GROUP BY customer_id ORDER BY 2 DESC",
        None,
    ),
    (
        "postgres",
        "SELECT c.country, count(DISTINCT c.id) AS customers, round(avg(o.total)::numeric, 2) AS basket FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.country",
        None,
    ),
    (
        "postgres",
        "SELECT name, email FROM customers WHERE email ILIKE '%@example.com' ORDER BY created_at DESC LIMIT 20",
        None,
    ),
    (
        "postgres",
        "SELECT e.last_name, count(o.id) FROM employees e JOIN orders o ON o.employee_id = e.id WHERE extract(year FROM o.created_at) = 2024 GROUP BY e.last_name",
        None,
    ),
    (
        "postgres",
        "SELECT category_id, name, price, rank() OVER (PARTITION BY category_id ORDER BY price DESC) AS r FROM products",
        None,
    ),
    (
        "postgres",
        "SELECT id, total FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE country = 'France') AND total > 100",
        None,
    ),
    (
        "postgres",
        'SELECT "OrderNotes"."noteText" FROM "OrderNotes" WHERE "OrderNotes"."orderId" = 42',
        None,
    ),
    (
        "postgres",
        "SELECT status, count(*) FROM orders GROUP BY status UNION ALL SELECT 'all', count(*) FROM orders",
        None,
    ),
    (
        "postgres",
        "SELECT c.name FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
        None,
    ),
    (
        "postgres",
        "SELECT coalesce(p.name, 'unknown') AS product, CASE WHEN i.quantity > 5 THEN 'bulk' ELSE 'single' END AS kind FROM order_items i LEFT JOIN products p ON p.id = i.product_id",
        None,
    ),
    (
        "mysql",
        "SELECT c.name, SUM(o.total) AS revenue FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.created_at >= DATE_SUB(CURDATE(), INTERVAL 6 MONTH) GROUP BY c.name ORDER BY revenue DESC",
        None,
    ),
    (
        "mysql",
        "SELECT DATE_FORMAT(created_at, '%Y-%m') AS month, COUNT(*) FROM orders GROUP BY month",
        None,
    ),
    (
        "mysql",
        "SELECT p.name, IFNULL(SUM(i.quantity), 0) FROM products p LEFT JOIN order_items i ON i.product_id = p.id GROUP BY p.name",
        None,
    ),
    ("mysql", "SELECT `order`.id FROM `order` WHERE `order`.created_at >= '2024-01-01'", None),
    (
        "sqlite",
        "SELECT strftime('%Y', created_at) AS year, count(*) FROM orders GROUP BY year",
        None,
    ),
    ("sqlite", "SELECT name FROM customers WHERE country = 'France' ORDER BY name LIMIT 3", None),
    (
        "sqlite",
        "SELECT c.name, total(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name",
        None,
    ),
    (
        "sqlite",
        "SELECT date_trunc('month', created_at) AS m, count(*) FROM orders GROUP BY 1",
        "postgres",
    ),
    (
        "mysql",
        "SELECT name FROM customers WHERE name ILIKE 'a%' AND created_at::date > '2024-01-01'",
        "postgres",
    ),
    ("postgres", "SELECT * FROM orders WHERE id = 7", None),
    ("postgres", "DELETE FROM orders WHERE status = 'cancelled'", None),
    ("postgres", "SELECT pg_sleep(10)", None),
    ("postgres", "SELECT nme FROM customers", None),
    ("postgres", "SELECT * FROM ordrs", None),
    ("mysql", "SELECT * FROM orders INTO OUTFILE '/tmp/x.csv'", None),
    ("postgres", "SELECT 1; DROP TABLE customers", None),
)


def shop_schema() -> Schema:
    """A shop database plus filler tables, so name lookups run on a realistic catalog."""

    def table(name: str, *columns: str) -> Table:
        return Table(name=name, columns=tuple(Column(c) for c in columns))

    shop = [
        table("customers", "id", "name", "email", "country", "created_at"),
        table("orders", "id", "customer_id", "employee_id", "total", "status", "created_at"),
        table("order_items", "id", "order_id", "product_id", "quantity", "unit_price"),
        table("products", "id", "category_id", "name", "price"),
        table("categories", "id", "name"),
        table("employees", "id", "first_name", "last_name", "hired_at"),
        table("OrderNotes", "id", "orderId", "noteText"),
        table("order", "id", "created_at"),
    ]
    filler = [
        table(f"archive_{n:03d}", *(f"field_{k}" for k in range(12))) for n in range(FILLER_TABLES)
    ]
    return Schema(tables=tuple(shop + filler))


@dataclass(frozen=True)
class Result:
    validations: int
    seconds: float
    latencies_ms: list[float]
    refused: int

    @property
    def per_second(self) -> float:
        return self.validations / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(rounds: int) -> Result:
    schema = shop_schema()
    latencies: list[float] = []
    refused = 0

    for dialect, sql, source in MIX:  # warm-up: caches of schema and function shapes
        validate(sql, dialect, schema=schema, source_dialect=source)

    started = time.perf_counter()
    for _ in range(rounds):
        for dialect, sql, source in MIX:
            before = time.perf_counter()
            validation = validate(sql, dialect, schema=schema, source_dialect=source)
            latencies.append((time.perf_counter() - before) * 1000)
            refused += not validation.allowed
    seconds = time.perf_counter() - started
    return Result(len(latencies), seconds, latencies, refused)


def summary_line(result: Result) -> str:
    return (
        f"guard: {result.per_second:,.0f} validations/s, "
        f"p50 {result.percentile(0.5):.2f} ms, p95 {result.percentile(0.95):.2f} ms, "
        f"mean {statistics.fmean(result.latencies_ms):.2f} ms over {result.validations} "
        f"validations ({result.refused / result.validations:.0%} refused)"
    )


def markdown(result: Result) -> str:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    compiled = "yes" if importlib.util.find_spec("sqlglotc") else "no"
    rows = [
        ("validations per second", f"{result.per_second:,.0f}"),
        ("median latency", f"{result.percentile(0.5):.2f} ms"),
        ("95th percentile latency", f"{result.percentile(0.95):.2f} ms"),
        ("mean latency", f"{statistics.fmean(result.latencies_ms):.2f} ms"),
        ("validations", f"{result.validations} ({len(MIX)} queries per round)"),
        ("refused", f"{result.refused / result.validations:.0%}"),
        ("cached schema", f"{FILLER_TABLES + 8} tables"),
        ("python / sqlglot", f"{platform.python_version()} / {sqlglot.__version__}"),
        ("sqlglot compiled (sqlglotc)", compiled),
    ]
    lines = [f"## Guard throughput ({stamp})", "", "| measure | value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30, help="passes over the query mix")
    parser.add_argument("--report", default=str(REPORT), help="markdown file to append to")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    # Refusals are logged as warnings; here they are the point of the mix, not news.
    logging.getLogger("dana.sql").setLevel(logging.ERROR)

    result = run(args.rounds)

    print(summary_line(result))
    if not args.no_write:
        with Path(args.report).open("a") as out:
            out.write(markdown(result) + "\n\n")


if __name__ == "__main__":
    main()
