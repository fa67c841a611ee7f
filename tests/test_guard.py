"""The guard refuses what may write, lock, escape or misname, and rewrites what may run."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from dana.errors import QueryRefused
from dana.schema import Column, Schema, Table
from dana.sql import functions
from dana.sql.dialects import needs_quotes
from dana.sql.guard import is_read_only, pattern_of, validate
from dana.sql.names import catalog_of

SHARED_CASES_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "cases" / "guard.json"


def _table(name: str, *columns: str, schema: str | None = None) -> Table:
    return Table(name=name, columns=tuple(Column(c) for c in columns), schema=schema)


SCHEMA = Schema(
    tables=(
        _table("customers", "id", "name", "email", "country", "created_at"),
        _table("orders", "id", "customer_id", "total", "status", "created_at"),
        _table("OrderItems", "id", "orderId", "unitPrice", "quantity"),
        _table("order", "id", "created_at", "user"),
        _table("users", "id", "user", "name", "Email"),
        _table("singer", "singer_id", "name", "country", "age"),
        _table("products", "id", "name", "price"),
        _table("Events", "ID", "Kind", "OccurredAt", schema="analytics"),
    )
)


def _load_shared_cases() -> list[Any]:
    cases = json.loads(SHARED_CASES_PATH.read_text())
    params = []
    for number, case in enumerate(cases, start=1):
        words = re.sub(r"[^a-z0-9]+", "-", case["why"].lower()).strip("-")
        title = f"{number:02d}-{case['dialect']}-{case['expect']}-{words}"
        params.append(pytest.param(case, id=title))
    return params


def _reads_back(sql: str, dialect: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read=dialect)


# --- the shared cases ---------------------------------------------------------------


@pytest.mark.parametrize("schema", [SCHEMA, None], ids=["with-schema", "without-schema"])
@pytest.mark.parametrize("case", _load_shared_cases())
def test_shared_case(case: dict[str, str], schema: Schema | None) -> None:
    expect_allowed = case["expect"] == "allow"

    validation = validate(case["sql"], case["dialect"], schema=schema)

    assert validation.allowed is expect_allowed, validation.message
    if expect_allowed:
        assert validation.problems == ()
        assert validation.expression is not None
        assert validation.expression.args.get("limit") is not None
        assert _reads_back(validation.sql or "", case["dialect"]) is not None
    else:
        assert validation.sql is None
        assert validation.message


# --- refusals -----------------------------------------------------------------------

# (title, dialect, sql, rule that refuses, words the message must contain)
REFUSALS = [
    (
        "delete-inside-cte",
        "postgres",
        "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
        "reject_writes",
        "deletes from table orders",
    ),
    (
        "writable-cte-in-union",
        "postgres",
        "WITH a AS (SELECT 1), b AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM a UNION SELECT * FROM b",
        "reject_writes",
        "writes to table t",
    ),
    (
        "writable-cte-inside-union-branch",
        "postgres",
        "SELECT 1 UNION ALL (WITH d AS (DELETE FROM t RETURNING *) SELECT 1 FROM d)",
        "reject_writes",
        "deletes from table t",
    ),
    (
        "delete-in-nested-subquery",
        "postgres",
        "SELECT * FROM t WHERE id IN (WITH d AS (DELETE FROM t RETURNING id) SELECT id FROM d)",
        "reject_writes",
        "deletes from table t",
    ),
    (
        "update-two-subqueries-deep",
        "postgres",
        "SELECT * FROM (SELECT * FROM (WITH d AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM d) x) y",
        "reject_writes",
        "writes to table t",
    ),
    (
        "insert-select",
        "postgres",
        "INSERT INTO archive SELECT * FROM orders",
        "reject_writes",
        "writes to table archive",
    ),
    ("replace-into", "mysql", "REPLACE INTO t VALUES (1)", "reject_commands", "REPLACE"),
    ("truncate", "postgres", "TRUNCATE orders", "reject_writes", "empties table orders"),
    (
        "alter-table",
        "postgres",
        "ALTER TABLE orders ADD COLUMN x int",
        "reject_writes",
        "alters table orders",
    ),
    (
        "create-table-as",
        "postgres",
        "CREATE TABLE x AS SELECT 1",
        "reject_writes",
        "creates table x",
    ),
    (
        "merge",
        "postgres",
        "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE",
        "reject_writes",
        "writes to table t",
    ),
    ("comment-on", "postgres", "COMMENT ON TABLE t IS 'x'", "reject_writes", "comment of table t"),
    (
        "select-into-in-subquery",
        "postgres",
        "SELECT * FROM (SELECT * INTO copy FROM orders) s",
        "reject_into",
        "creates table copy",
    ),
    (
        "select-into-scalar-subquery",
        "postgres",
        "SELECT (SELECT x INTO y FROM t)",
        "reject_into",
        "creates table y",
    ),
    (
        "mysql-into-variable",
        "mysql",
        "SELECT total INTO @x FROM orders",
        "reject_into",
        "SELECT ... INTO",
    ),
    (
        "mysql-into-dumpfile",
        "mysql",
        "SELECT * FROM t INTO DUMPFILE '/tmp/x'",
        "reject_into",
        "INTO DUMPFILE",
    ),
    ("for-share", "postgres", "SELECT * FROM orders FOR SHARE", "reject_locking", "FOR SHARE"),
    (
        "for-no-key-update",
        "postgres",
        "SELECT * FROM orders FOR NO KEY UPDATE",
        "reject_locking",
        "FOR NO KEY UPDATE",
    ),
    (
        "lock-in-subquery",
        "postgres",
        "SELECT 1 FROM t WHERE a = (SELECT b FROM u FOR SHARE)",
        "reject_locking",
        "FOR SHARE",
    ),
    (
        "mysql-lock-in-share-mode",
        "mysql",
        "SELECT * FROM t LOCK IN SHARE MODE",
        "reject_locking",
        "locks rows",
    ),
    ("lock-table", "postgres", "LOCK TABLE orders", "reject_commands", "LOCK"),
    ("call", "postgres", "CALL refresh_everything()", "reject_commands", "CALL"),
    ("vacuum", "postgres", "VACUUM", "reject_commands", "VACUUM"),
    ("sqlite-vacuum-into", "sqlite", "VACUUM INTO '/tmp/x.db'", "reject_commands", "VACUUM"),
    ("listen", "postgres", "LISTEN channel", "require_read_statement", "LISTEN"),
    ("notify", "postgres", "NOTIFY channel", "require_read_statement", "NOTIFY"),
    ("reindex", "postgres", "REINDEX TABLE orders", "reject_commands", "REINDEX"),
    ("prepare", "postgres", "PREPARE p AS SELECT 1", "reject_commands", "PREPARE"),
    ("execute", "postgres", "EXECUTE p", "reject_commands", "EXECUTE"),
    ("set-search-path", "postgres", "SET search_path TO evil", "require_read_statement", "SET"),
    ("reset-role", "postgres", "RESET ROLE", "reject_commands", "RESET"),
    ("mysql-set-variable", "mysql", "SET @a = 1", "require_read_statement", "SET"),
    ("show", "postgres", "SHOW search_path", "reject_commands", "SHOW"),
    ("mysql-show-tables", "mysql", "SHOW TABLES", "require_read_statement", "SHOW"),
    ("mysql-handler", "mysql", "HANDLER t OPEN", "require_read_statement", "HANDLER"),
    (
        "mysql-load-data",
        "mysql",
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
        "require_read_statement",
        "LOAD",
    ),
    ("mysql-use", "mysql", "USE other", "require_read_statement", "USE"),
    ("mysql-do-sleep", "mysql", "DO SLEEP(5)", "require_read_statement", "DO"),
    ("begin", "postgres", "BEGIN", "require_read_statement", "BEGIN"),
    ("explain", "postgres", "EXPLAIN SELECT 1", "reject_commands", "EXPLAIN"),
    ("values", "postgres", "VALUES (1)", "require_read_statement", "VALUES"),
    ("sqlite-detach", "sqlite", "DETACH DATABASE other", "require_read_statement", "DETACH"),
    (
        "mysql-executable-comment-drop",
        "mysql",
        "/*!50000 DROP TABLE x*/",
        "reject_executable_comments",
        "executable comment",
    ),
    (
        "mysql-executable-comment-in-select",
        "mysql",
        "SELECT 1 /*!50000 , (SELECT SLEEP(5)) */",
        "reject_executable_comments",
        "executable comment",
    ),
    (
        "mariadb-executable-comment",
        "mysql",
        "SELECT /*M!100000 1, */ 2",
        "reject_executable_comments",
        "executable comment",
    ),
    (
        "line-comment-hides-semicolon",
        "postgres",
        "SELECT 1 --\n; DROP TABLE x",
        "require_single_statement",
        "more than one statement",
    ),
    (
        "line-separator-before-drop",
        "postgres",
        "SELECT 1\u2028; DROP TABLE t",
        "require_single_statement",
        "more than one statement",
    ),
    ("no-break-space-in-drop", "postgres", "DROP\u00a0TABLE t", "reject_writes", "drops table t"),
    (
        "zero-width-space-glues-words",
        "postgres",
        "SELECT\u200b1",
        "require_read_statement",
        "not allowed",
    ),
    (
        "fullwidth-letters",
        "postgres",
        "\uff24\uff32\uff2f\uff30 TABLE t",
        "parse",
        "could not be read",
    ),
    ("empty-text", "postgres", "  -- nothing\n", "require_single_statement", "empty"),
    (
        "mysql-variable-assignment",
        "mysql",
        "SELECT @total := SUM(total) FROM orders",
        "reject_variables",
        "sets the variable @total",
    ),
    (
        "mysql-server-setting",
        "mysql",
        "SELECT @@secure_file_priv",
        "reject_variables",
        "the server setting @@secure_file_priv is not allowed",
    ),
    (
        "pg-sleep-inside-cte",
        "postgres",
        "WITH x AS (SELECT pg_sleep(10)) SELECT * FROM x",
        "allow_functions",
        "the function pg_sleep is not allowed",
    ),
    (
        "pg-sleep-in-order-by",
        "postgres",
        "SELECT * FROM t ORDER BY (SELECT pg_sleep(1))",
        "allow_functions",
        "pg_sleep",
    ),
    (
        "pg-sleep-qualified",
        "postgres",
        "SELECT pg_catalog.pg_sleep(1)",
        "allow_functions",
        "pg_catalog.pg_sleep",
    ),
    ("pg-sleep-quoted-name", "postgres", 'SELECT "pg_sleep"(1)', "allow_functions", "pg_sleep"),
    ("pg-sleep-upper-case", "postgres", "SELECT PG_SLEEP(1)", "allow_functions", "PG_SLEEP"),
    (
        "user-function-in-other-schema",
        "postgres",
        "SELECT public.lower('A')",
        "allow_functions",
        "public.lower",
    ),
    ("lo-import", "postgres", "SELECT lo_import('/etc/passwd')", "allow_functions", "lo_import"),
    ("lo-export", "postgres", "SELECT lo_export(1, '/tmp/x')", "allow_functions", "lo_export"),
    (
        "dblink-table-function",
        "postgres",
        "SELECT * FROM dblink('host=x', 'select 1') AS t(a int)",
        "allow_functions",
        "dblink",
    ),
    (
        "dblink-exec",
        "postgres",
        "SELECT dblink_exec('x', 'DROP TABLE t')",
        "allow_functions",
        "dblink_exec",
    ),
    (
        "current-setting",
        "postgres",
        "SELECT current_setting('app.current_org')",
        "allow_functions",
        "current_setting",
    ),
    (
        "nextval-advances-a-sequence",
        "postgres",
        "SELECT nextval('orders_id_seq')",
        "allow_functions",
        "nextval",
    ),
    (
        "advisory-lock",
        "postgres",
        "SELECT pg_advisory_lock(1)",
        "allow_functions",
        "pg_advisory_lock",
    ),
    (
        "terminate-backend",
        "postgres",
        "SELECT pg_terminate_backend(1)",
        "allow_functions",
        "pg_terminate_backend",
    ),
    (
        "version-recon",
        "postgres",
        "SELECT version()",
        "allow_functions",
        "the function version is not allowed",
    ),
    (
        "pg-ls-dir-in-from",
        "postgres",
        "SELECT * FROM pg_ls_dir('.')",
        "allow_functions",
        "pg_ls_dir",
    ),
    (
        "mysql-sleep-in-where",
        "mysql",
        "SELECT * FROM t WHERE a = 1 OR SLEEP(5)",
        "allow_functions",
        "SLEEP",
    ),
    (
        "mysql-benchmark",
        "mysql",
        "SELECT BENCHMARK(1000000, MD5('a'))",
        "allow_functions",
        "BENCHMARK",
    ),
    ("sqlite-readfile", "sqlite", "SELECT readfile('/etc/passwd')", "allow_functions", "readfile"),
    (
        "sqlite-pragma-function",
        "sqlite",
        "SELECT * FROM pragma_table_info('t')",
        "allow_functions",
        "pragma_table_info",
    ),
    ("unclosed-quote", "postgres", "SELECT 'abc", "parse", "not closed"),
]


@pytest.mark.parametrize(
    ("dialect", "sql", "rule", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSALS],
)
def test_refuses_unsafe_query(dialect: str, sql: str, rule: str, words: str) -> None:
    validation = validate(sql, dialect)

    assert not validation.allowed
    assert validation.sql is None and validation.expression is None
    assert rule in {problem.rule for problem in validation.problems}
    assert words in validation.message


# --- allowed queries: regenerated, capped -------------------------------------------

# (title, dialect, sql, the SQL that runs), without a schema
ALLOWED = [
    ("limit-added", "postgres", "SELECT a FROM t", "SELECT a FROM t LIMIT 1000"),
    ("limit-lowered", "postgres", "SELECT a FROM t LIMIT 5000", "SELECT a FROM t LIMIT 1000"),
    ("limit-kept", "postgres", "SELECT a FROM t LIMIT 10", "SELECT a FROM t LIMIT 10"),
    ("limit-all-replaced", "postgres", "SELECT a FROM t LIMIT ALL", "SELECT a FROM t LIMIT 1000"),
    (
        "offset-kept",
        "mysql",
        "SELECT a FROM t LIMIT 10, 5000",
        "SELECT a FROM t LIMIT 1000 OFFSET 10",
    ),
    (
        "fetch-first-kept",
        "postgres",
        "SELECT a FROM t FETCH FIRST 5 ROWS ONLY",
        "SELECT a FROM t FETCH FIRST 5 ROWS ONLY",
    ),
    (
        "fetch-first-lowered",
        "postgres",
        "SELECT a FROM t FETCH FIRST 5000 ROWS ONLY",
        "SELECT a FROM t LIMIT 1000",
    ),
    (
        "union-limit-on-outer-query",
        "postgres",
        "SELECT a FROM t UNION SELECT a FROM u",
        "SELECT a FROM t UNION SELECT a FROM u LIMIT 1000",
    ),
    (
        "union-limit-lowered",
        "postgres",
        "SELECT 1 UNION SELECT 2 LIMIT 5000",
        "SELECT 1 UNION SELECT 2 LIMIT 1000",
    ),
    (
        "union-branch-limit-kept",
        "postgres",
        "(SELECT a FROM t LIMIT 3) UNION ALL (SELECT a FROM u)",
        "(SELECT a FROM t LIMIT 3) UNION ALL (SELECT a FROM u) LIMIT 1000",
    ),
    ("parenthesised-query", "postgres", "(SELECT a FROM t)", "SELECT a FROM t LIMIT 1000"),
    ("trailing-semicolons", "postgres", "SELECT a FROM t;;", "SELECT a FROM t LIMIT 1000"),
    (
        "comment-after-semicolon",
        "postgres",
        "SELECT a FROM t; -- thanks",
        "SELECT a FROM t LIMIT 1000",
    ),
    (
        "block-comment-dropped",
        "postgres",
        "SELECT a /* ; DROP TABLE t */ FROM t",
        "SELECT a FROM t LIMIT 1000",
    ),
    (
        "comments-between-words",
        "postgres",
        "select/**/a/**/from/**/t",
        "SELECT a FROM t LIMIT 1000",
    ),
    ("odd-whitespace", "postgres", "\tSELECT\na\r\nFROM\u00a0t", "SELECT a FROM t LIMIT 1000"),
    (
        "semicolon-inside-string",
        "postgres",
        "SELECT * FROM t WHERE x = 'a''b; DROP TABLE t; --'",
        "SELECT * FROM t WHERE x = 'a''b; DROP TABLE t; --' LIMIT 1000",
    ),
    (
        "executable-comment-text-inside-string",
        "mysql",
        "SELECT a FROM t WHERE b = '/*! x */'",
        "SELECT a FROM t WHERE b = '/*! x */' LIMIT 1000",
    ),
    (
        "generate-series",
        "postgres",
        "SELECT n FROM generate_series(1, 10) AS g(n)",
        "SELECT n FROM GENERATE_SERIES(1, 10) AS g(n) LIMIT 1000",
    ),
    (
        "pg-catalog-builtin",
        "postgres",
        "SELECT pg_catalog.lower('A')",
        "SELECT pg_catalog.lower('A') LIMIT 1000",
    ),
    (
        "postgres-everyday-functions",
        "postgres",
        "SELECT coalesce(a, 0), nullif(b, 0), case when a > 1 then 'x' end, extract(year from d), round(avg(a)::numeric, 2), string_agg(b, ','), row_number() over (order by d) FROM t GROUP BY a, b, d",
        "SELECT COALESCE(a, 0), NULLIF(b, 0), CASE WHEN a > 1 THEN 'x' END, EXTRACT(YEAR FROM d), ROUND(CAST(AVG(a) AS DECIMAL), 2), STRING_AGG(b, ','), ROW_NUMBER() OVER (ORDER BY d) FROM t GROUP BY a, b, d LIMIT 1000",
    ),
    (
        "postgres-json-reads",
        "postgres",
        "SELECT j->>'a', jsonb_extract_path_text(j, 'b') FROM t",
        "SELECT j ->> 'a', JSONB_EXTRACT_PATH_TEXT(j, 'b') FROM t LIMIT 1000",
    ),
    (
        "mysql-everyday-functions",
        "mysql",
        "SELECT IFNULL(a, 0), DATE_FORMAT(d, '%Y-%m'), GROUP_CONCAT(b SEPARATOR ','), TIMESTAMPDIFF(DAY, d, e), JSON_UNQUOTE(JSON_EXTRACT(j, '$.a')) FROM t",
        "SELECT COALESCE(a, 0), DATE_FORMAT(d, '%Y-%m'), GROUP_CONCAT(b SEPARATOR ','), TIMESTAMPDIFF(DAY, d, e), JSON_UNQUOTE(JSON_EXTRACT(j, '$.a')) FROM t LIMIT 1000",
    ),
    (
        "sqlite-everyday-functions",
        "sqlite",
        "SELECT ifnull(a, 0), strftime('%Y', d), julianday(d) - julianday(e), group_concat(b, ','), total(a) FROM t",
        "SELECT COALESCE(a, 0), STRFTIME('%Y', d), JULIANDAY(d) - JULIANDAY(e), GROUP_CONCAT(b, ','), TOTAL(a) FROM t LIMIT 1000",
    ),
    (
        "mysql-reserved-alias-quoted",
        "mysql",
        "SELECT a AS `order` FROM t",
        "SELECT a AS `order` FROM t LIMIT 1000",
    ),
    (
        "postgres-reserved-alias-quoted",
        "postgres",
        'SELECT a AS "order" FROM t',
        'SELECT a AS "order" FROM t LIMIT 1000',
    ),
]


@pytest.mark.parametrize(
    ("dialect", "sql", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in ALLOWED],
)
def test_allows_and_regenerates_query(dialect: str, sql: str, expected: str) -> None:
    validation = validate(sql, dialect)

    assert validation.allowed, validation.message
    assert validation.sql == expected
    assert validation.expression is not None
    assert validation.expression.sql(dialect=dialect) == expected


# --- names against the cached schema -------------------------------------------------

# (title, dialect, sql, the SQL that runs), with SCHEMA
NAMED = [
    (
        "table-and-columns-match-any-case",
        "postgres",
        "select Name, TOTAL from CUSTOMERS c join Orders o on o.customer_id = c.id",
        "SELECT name, total FROM customers AS c JOIN orders AS o ON o.customer_id = c.id LIMIT 1000",
    ),
    (
        "postgres-mixed-case-names-quoted",
        "postgres",
        "select orderitems.unitprice, quantity from orderitems",
        'SELECT "OrderItems"."unitPrice", quantity FROM "OrderItems" LIMIT 1000',
    ),
    (
        "postgres-reserved-table-quoted",
        "postgres",
        'select o.id from "ORDER" o',
        'SELECT o.id FROM "order" AS o LIMIT 1000',
    ),
    (
        "postgres-schema-qualified-table",
        "postgres",
        "select kind, occurredat from ANALYTICS.events",
        'SELECT "Kind", "OccurredAt" FROM analytics."Events" LIMIT 1000',
    ),
    (
        "mysql-reserved-table-backticks",
        "mysql",
        "select o.id from `ORDER` o",
        "SELECT o.id FROM `order` AS o LIMIT 1000",
    ),
    (
        "mysql-cached-spelling",
        "mysql",
        "select UNITPRICE from orderitems",
        "SELECT unitPrice FROM OrderItems LIMIT 1000",
    ),
    (
        "sqlite-reserved-table-quoted",
        "sqlite",
        "select id from `order`",
        'SELECT id FROM "order" LIMIT 1000',
    ),
    (
        "bare-user-reads-the-column",
        "postgres",
        "select user from users where user = 'ann'",
        'SELECT "user" FROM users WHERE "user" = \'ann\' LIMIT 1000',
    ),
    (
        "qualified-user-column",
        "postgres",
        "select u.user from users u",
        'SELECT u."user" FROM users AS u LIMIT 1000',
    ),
    (
        "cte-names-and-aliases",
        "postgres",
        "with Recent as (select customer_id, total as amount from orders) select customer_id, sum(amount) as s from recent group by customer_id having sum(amount) > 5 order by s",
        "WITH Recent AS (SELECT customer_id, total AS amount FROM orders) SELECT customer_id, SUM(amount) AS s FROM Recent GROUP BY customer_id HAVING SUM(amount) > 5 ORDER BY s LIMIT 1000",
    ),
    (
        "derived-table-columns",
        "postgres",
        "select x.n from (select count(*) as n from orders) x",
        "SELECT x.n FROM (SELECT COUNT(*) AS n FROM orders) AS x LIMIT 1000",
    ),
    (
        "correlated-subquery",
        "postgres",
        "select name from customers c where exists (select 1 from orders o where o.customer_id = c.ID)",
        "SELECT name FROM customers AS c WHERE EXISTS(SELECT 1 FROM orders AS o WHERE o.customer_id = c.id) LIMIT 1000",
    ),
    (
        "union-order-by-output-name",
        "postgres",
        "select name from customers union select name from products order by name",
        "SELECT name FROM customers UNION SELECT name FROM products ORDER BY name LIMIT 1000",
    ),
    (
        "order-by-select-alias",
        "postgres",
        "select status, count(*) as n from orders group by status order by n desc",
        "SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY n DESC LIMIT 1000",
    ),
    (
        "star-from-cte",
        "postgres",
        "with o as (select * from orders) select total from o",
        "WITH o AS (SELECT * FROM orders) SELECT total FROM o LIMIT 1000",
    ),
    (
        "system-column",
        "postgres",
        "select ctid, id from orders",
        "SELECT ctid, id FROM orders LIMIT 1000",
    ),
]


@pytest.mark.parametrize(
    ("dialect", "sql", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in NAMED],
)
def test_spells_names_as_cached(dialect: str, sql: str, expected: str) -> None:
    validation = validate(sql, dialect, schema=SCHEMA)

    assert validation.allowed, validation.message
    assert validation.sql == expected


# (title, dialect, sql, the whole message)
UNKNOWN_NAMES = [
    (
        "unknown-table-with-suggestion",
        "postgres",
        "select * from ordrs",
        "table 'ordrs' does not exist; did you mean orders?",
    ),
    (
        "unknown-table-without-suggestion",
        "postgres",
        "select * from pg_shadow",
        "table 'pg_shadow' does not exist",
    ),
    (
        "table-in-wrong-schema",
        "postgres",
        "select * from public.events",
        "table 'public.events' does not exist; did you mean Events?",
    ),
    (
        "unknown-column-with-suggestion",
        "postgres",
        "select totl from orders",
        "column 'totl' does not exist in orders; did you mean total?",
    ),
    (
        "unknown-qualified-column",
        "mysql",
        "select o.totl from orders o join customers c on c.id = o.customer_id",
        "column 'totl' does not exist in orders; did you mean total?",
    ),
    (
        "unknown-column-in-a-join",
        "postgres",
        "select totl from orders o join customers c on c.id = o.customer_id",
        "column 'totl' does not exist in orders or customers; did you mean orders.total?",
    ),
    (
        "unknown-column-in-having",
        "postgres",
        "select status from orders group by status having sum(totl) > 1",
        "column 'totl' does not exist in orders; did you mean total?",
    ),
    (
        "unknown-column-of-cte",
        "postgres",
        "with recent as (select customer_id from orders) select amount from recent",
        "column 'amount' does not exist in recent",
    ),
    (
        "unknown-column-of-derived-table",
        "postgres",
        "select x.m from (select count(*) as n from orders) x",
        "column 'm' does not exist in x",
    ),
    (
        "unknown-column-in-correlated-subquery",
        "postgres",
        "select * from customers c where exists (select 1 from orders o where o.customer_id = c.idd)",
        "column 'idd' does not exist in customers; did you mean id?",
    ),
    (
        "qualifier-that-names-nothing",
        "postgres",
        "select orders.id from orders o",
        "'orders' in orders.id is not a table or alias of this query",
    ),
]


@pytest.mark.parametrize(
    ("dialect", "sql", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in UNKNOWN_NAMES],
)
def test_refuses_unknown_names(dialect: str, sql: str, message: str) -> None:
    validation = validate(sql, dialect, schema=SCHEMA)

    assert not validation.allowed
    assert validation.message == message


def test_refuses_bare_user_without_such_column_as_a_function() -> None:
    sql = "select current_user from orders"

    validation = validate(sql, "postgres", schema=SCHEMA)

    assert validation.message == "the function current_user is not allowed"


def test_refuses_bare_user_when_no_table_in_scope_has_it() -> None:
    sql = "select user from orders"

    validation = validate(sql, "postgres", schema=SCHEMA)

    assert validation.message == "column 'user' does not exist in orders"


def test_quotes_bare_user_as_a_column_without_schema() -> None:
    sql = "select user from users"

    validation = validate(sql, "postgres")

    assert validation.sql == 'SELECT "user" FROM users LIMIT 1000'


def test_reads_columns_renamed_by_a_table_alias() -> None:
    sql = "select o.amount from orders as o(num, who, amount)"

    validation = validate(sql, "postgres", schema=SCHEMA)

    assert validation.allowed, validation.message


# --- converting between dialects -----------------------------------------------------

# (title, target, source given or None, sql, the SQL that runs, the dialect it was read in)
CONVERSIONS = [
    (
        "postgres-ilike-and-cast-to-mysql",
        "mysql",
        "postgres",
        "SELECT name FROM customers WHERE name ILIKE '%ann%' AND created_at::date > '2024-01-01'",
        "SELECT name FROM customers WHERE LOWER(name) LIKE LOWER('%ann%') AND CAST(created_at AS DATE) > '2024-01-01' LIMIT 1000",
        "postgres",
    ),
    (
        "postgres-date-trunc-month-to-sqlite",
        "sqlite",
        "postgres",
        "SELECT date_trunc('month', created_at) AS m, count(*) FROM orders GROUP BY 1",
        "SELECT STRFTIME('%Y-%m-01', created_at) AS m, COUNT(*) FROM orders GROUP BY 1 LIMIT 1000",
        "postgres",
    ),
    (
        "postgres-date-trunc-week-to-sqlite",
        "sqlite",
        "postgres",
        "SELECT date_trunc('week', created_at) FROM orders",
        "SELECT DATE(created_at, 'weekday 0', '-6 days') FROM orders LIMIT 1000",
        "postgres",
    ),
    (
        "postgres-interval-to-sqlite",
        "sqlite",
        "postgres",
        "SELECT id FROM orders WHERE created_at > now() - interval '30 days'",
        "SELECT id FROM orders WHERE created_at > DATETIME('now', '-30 days') LIMIT 1000",
        "postgres",
    ),
    (
        "postgres-compound-interval-to-sqlite",
        "sqlite",
        "postgres",
        "SELECT id FROM orders WHERE created_at > current_date - interval '1 year 2 months'",
        "SELECT id FROM orders WHERE created_at > DATE('now', '-1 years', '-2 months') LIMIT 1000",
        "postgres",
    ),
    (
        "postgres-now-on-sqlite-is-read-as-postgres",
        "sqlite",
        None,
        "SELECT id FROM orders WHERE created_at > now() - interval '7 days'",
        "SELECT id FROM orders WHERE created_at > DATETIME('now', '-7 days') LIMIT 1000",
        "postgres",
    ),
    (
        "mysql-backticks-on-postgres-are-read-as-mysql",
        "postgres",
        None,
        "SELECT `name` FROM `customers` LIMIT 10",
        'SELECT "name" FROM "customers" LIMIT 10',
        "mysql",
    ),
    (
        "mysql-date-format-to-postgres",
        "postgres",
        "mysql",
        "SELECT DATE_FORMAT(created_at, '%Y-%m') AS m FROM orders",
        "SELECT TO_CHAR(CAST(created_at AS TIMESTAMP), 'YYYY-MM') AS m FROM orders LIMIT 1000",
        "mysql",
    ),
    (
        "postgres-cast-reads-as-mysql-directly",
        "mysql",
        None,
        "SELECT created_at::date FROM orders",
        "SELECT CAST(created_at AS DATE) FROM orders LIMIT 1000",
        None,
    ),
]


@pytest.mark.parametrize(
    ("dialect", "source", "sql", "expected", "read_in"),
    [pytest.param(*case[1:], id=case[0]) for case in CONVERSIONS],
)
def test_converts_from_other_dialect(
    dialect: str, source: str | None, sql: str, expected: str, read_in: str | None
) -> None:
    validation = validate(sql, dialect, source_dialect=source)

    assert validation.allowed, validation.message
    assert validation.sql == expected
    assert validation.source_dialect == read_in


# (title, target, source, sql, words of the reason)
UNCONVERTIBLE = [
    (
        "quarter-truncation-on-sqlite",
        "sqlite",
        "postgres",
        "SELECT date_trunc('quarter', created_at) FROM orders",
        "cannot truncate dates to the quarter unit",
    ),
    (
        "to-number-on-sqlite",
        "sqlite",
        "postgres",
        "SELECT to_number(total, '999') FROM orders",
        "cannot be converted from PostgreSQL to SQLite",
    ),
    (
        "percentile-on-mysql",
        "mysql",
        "postgres",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders",
        "the function percentile_cont does not exist in MySQL",
    ),
    (
        "day-of-week-on-postgres",
        "postgres",
        "mysql",
        "SELECT DAYOFWEEK(created_at) FROM orders",
        "the function dayofweek does not exist in PostgreSQL",
    ),
    (
        "interval-cast-on-sqlite",
        "sqlite",
        "postgres",
        "SELECT id FROM orders WHERE created_at > now() - '30 days'::interval",
        "it has no interval arithmetic",
    ),
    (
        "time-zone-on-sqlite",
        "sqlite",
        "postgres",
        "SELECT created_at AT TIME ZONE 'UTC' FROM orders",
        "it has no time zones",
    ),
    (
        "array-agg-on-sqlite",
        "sqlite",
        "postgres",
        "SELECT array_agg(id) FROM orders",
        "the function array_agg does not exist in SQLite",
    ),
    (
        "case-insensitive-regex-on-mysql",
        "mysql",
        None,
        "SELECT id FROM orders WHERE status ~* 'pa'",
        "does not exist in MySQL",
    ),
    (
        "unparseable-in-every-dialect",
        "postgres",
        None,
        "SELEC name FROM customers",
        "could not be read as PostgreSQL",
    ),
]


@pytest.mark.parametrize(
    ("dialect", "source", "sql", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in UNCONVERTIBLE],
)
def test_refuses_what_cannot_be_converted(
    dialect: str, source: str | None, sql: str, words: str
) -> None:
    validation = validate(sql, dialect, source_dialect=source)

    assert not validation.allowed
    assert words in validation.message


def test_still_refuses_writes_read_in_another_dialect() -> None:
    sql = "DELETE FROM orders WHERE id = 1"

    validation = validate(sql, "sqlite", source_dialect="postgres")

    assert validation.message == "the query deletes from table orders; DANA only reads"


# --- the SQL that runs, run on a real SQLite -----------------------------------------


@pytest.fixture()
def shop() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    for table in SCHEMA.tables:
        if table.schema is None:
            columns = ", ".join(f'"{column.name}"' for column in table.columns)
            connection.execute(f'CREATE TABLE "{table.name}" ({columns})')
    rows = [
        (n, n % 3, n * 10.0, "paid", f"2024-0{n % 9 + 1}-1{n % 9} 10:00:00") for n in range(1, 40)
    ]
    connection.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", rows)
    connection.execute("INSERT INTO \"order\" VALUES (1, '2024-01-01', 'ann')")
    return connection


SQLITE_RUNS = [
    (
        "month-truncation-from-postgres",
        "SELECT date_trunc('month', created_at) AS m, sum(total) FROM orders GROUP BY 1 ORDER BY 1",
        "postgres",
    ),
    (
        "week-truncation-from-postgres",
        "SELECT date_trunc('week', created_at) AS w, count(*) FROM orders GROUP BY 1",
        "postgres",
    ),
    (
        "interval-arithmetic-from-postgres",
        "SELECT count(*) FROM orders WHERE created_at > now() - interval '5 years'",
        "postgres",
    ),
    ("reserved-table-and-column", "SELECT o.user FROM `ORDER` o", None),
    ("union-with-cap", "SELECT id FROM orders UNION SELECT id FROM customers", None),
    (
        "strftime-grouping",
        "SELECT strftime('%Y', created_at) AS y, count(*) FROM orders GROUP BY y",
        None,
    ),
]


@pytest.mark.parametrize(
    ("sql", "source"), [pytest.param(*case[1:], id=case[0]) for case in SQLITE_RUNS]
)
def test_output_runs_on_sqlite(shop: sqlite3.Connection, sql: str, source: str | None) -> None:
    validation = validate(sql, "sqlite", schema=SCHEMA, max_rows=5, source_dialect=source)

    rows = shop.execute(validation.sql or "").fetchall()

    assert validation.allowed, validation.message
    assert 0 < len(rows) <= 5


# --- the rest of the API -------------------------------------------------------------


def test_pattern_is_the_same_for_different_values() -> None:
    first = "SELECT * FROM orders WHERE id = 1 AND status IN ('paid', 'sent')"
    second = "select * from orders where id = 2 and status in ('open')"

    patterns = pattern_of(first, "postgres"), pattern_of(second, "postgres")

    assert patterns[0] == patterns[1] == "SELECT * FROM orders WHERE id = ? AND status IN (?)"


def test_pattern_differs_for_different_shapes() -> None:
    first = "SELECT * FROM orders WHERE id = 1"
    second = "SELECT * FROM orders WHERE total = 1"

    patterns = pattern_of(first, "mysql"), pattern_of(second, "mysql")

    assert patterns[0] != patterns[1]


def test_pattern_of_unparseable_text_hides_values() -> None:
    sql = "SELEC name FROM t WHERE id = 42 AND note = 'secret'"

    pattern = pattern_of(sql, "sqlite")

    assert pattern == "SELEC name FROM t WHERE id = ? AND note = ?"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param("SELECT * FROM orders", True, id="select"),
        pytest.param("DELETE FROM orders", False, id="delete"),
        pytest.param("SELECT pg_sleep(1)", False, id="unsafe-function"),
        pytest.param("SELECT 1; SELECT 2", False, id="two-statements"),
    ],
)
def test_is_read_only(sql: str, expected: bool) -> None:
    result = is_read_only(sql, "postgres")

    assert result is expected


def test_message_joins_every_problem() -> None:
    sql = "SELECT 1; DROP TABLE users"

    validation = validate(sql, "postgres")

    assert validation.message == (
        "more than one statement (2): DANA runs exactly one; "
        "the query drops table users; DANA only reads"
    )


def test_raise_for_refusal_raises_query_refused() -> None:
    validation = validate("DROP TABLE customers", "postgres")

    with pytest.raises(QueryRefused) as raised:
        validation.raise_for_refusal()

    assert raised.value.message == "the query drops table customers; DANA only reads"
    assert "reject_writes" in (raised.value.detail or "")


def test_raise_for_refusal_returns_allowed_validation() -> None:
    validation = validate("SELECT 1", "postgres")

    result = validation.raise_for_refusal()

    assert result is validation


def test_parse_error_names_line_and_column() -> None:
    sql = "SELECT name\nFROM customers WHERE (name = 'x'"

    validation = validate(sql, "postgres")

    assert not validation.allowed
    assert re.search(r"line 2, column \d+", validation.message), validation.message


def test_no_cap_when_max_rows_is_none() -> None:
    sql = "SELECT a FROM t"

    validation = validate(sql, "postgres", max_rows=None)

    assert validation.sql == "SELECT a FROM t"


def test_mariadb_is_read_as_mysql() -> None:
    sql = "SELECT `order`.id FROM `order`"

    validation = validate(sql, "mariadb", schema=SCHEMA)

    assert validation.dialect == "mysql"
    assert validation.sql == "SELECT `order`.id FROM `order` LIMIT 1000"


def test_unknown_dialect_raises() -> None:
    with pytest.raises(ValueError, match="oracle"):
        validate("SELECT 1", "oracle")


def test_validation_is_frozen() -> None:
    validation = validate("DELETE FROM singer", "sqlite")

    with pytest.raises(AttributeError):
        validation.allowed = True  # type: ignore[misc]


def test_catalog_is_built_once_per_schema() -> None:
    first = catalog_of(SCHEMA)

    second = catalog_of(SCHEMA)

    assert first is second


def test_every_allowlisted_class_exists_in_sqlglot() -> None:
    names = functions.SAFE_CLASS_NAMES

    missing = [name for name in names if not hasattr(exp, name)]

    assert missing == []


def test_no_allowlisted_name_can_sleep_or_read_files() -> None:
    dangerous = {"pg_sleep", "sleep", "benchmark", "load_file", "load_extension", "pg_read_file"}

    allowed = set().union(*functions.FUNCTION_NAMES.values())

    assert allowed.isdisjoint(dangerous)


@pytest.mark.parametrize(
    ("name", "dialect", "expected"),
    [
        pytest.param("OrderItems", "postgres", True, id="postgres-mixed-case"),
        pytest.param("orders", "postgres", False, id="postgres-plain"),
        pytest.param("user", "postgres", True, id="postgres-reserved"),
        pytest.param("OrderItems", "mysql", False, id="mysql-mixed-case"),
        pytest.param("order", "mysql", True, id="mysql-reserved"),
        pytest.param("unit price", "sqlite", True, id="sqlite-space"),
    ],
)
def test_needs_quotes(name: str, dialect: str, expected: bool) -> None:
    result = needs_quotes(name, dialect)

    assert result is expected
