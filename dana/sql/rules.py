"""Checks on the shape of a statement: one read, nothing that writes, locks or escapes.

Each rule takes a parsed `Statement` and returns the problems it finds, empty when the
statement passes. The rules look at the whole tree, so a write hidden in a CTE, a
subquery or a set operation is found as surely as one at the top.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from dana.sql.dialects import DISPLAY_NAMES
from dana.sql.functions import (
    BUILTIN_SCHEMAS,
    function_name,
    is_foreign_function,
    is_safe_function,
)
from dana.sql.parsing import Statement
from dana.sql.problems import Problem

ONLY_READS = "DANA only reads"

# The rule name of a call to another dialect's built-in: a sign the text is in that dialect.
FOREIGN_FUNCTION = "allow_functions.other_dialect"

# The statement types DANA runs: queries that return rows and change nothing.
READ_STATEMENTS: tuple[type[exp.Expr], ...] = (exp.Select, exp.SetOperation)

# Nodes that change data, schema, permissions or files, with the verb a user reads.
WRITES: dict[type[exp.Expr], str] = {
    exp.Insert: "writes to",
    exp.Update: "writes to",
    exp.Delete: "deletes from",
    exp.Merge: "writes to",
    exp.TruncateTable: "empties",
    exp.Create: "creates",
    exp.Drop: "drops",
    exp.Alter: "alters",
    exp.Copy: "copies",
    exp.LoadData: "loads a file into",
    exp.Comment: "changes the comment of",
    exp.Grant: "changes permissions on",
    exp.Revoke: "changes permissions on",
}
_WRITE_TYPES = tuple(WRITES)

_STATEMENT_KEYWORDS: dict[type[exp.Expr], str] = {
    exp.Transaction: "BEGIN",
    exp.Commit: "COMMIT",
    exp.Rollback: "ROLLBACK",
    exp.Values: "VALUES",
}


def require_single_statement(statements: Sequence[exp.Expr]) -> list[Problem]:
    """Exactly one statement: a second one is where an injected write would hide."""
    if not statements:
        return [
            Problem("require_single_statement", "the query is empty: there is no statement to run")
        ]
    if len(statements) > 1:
        return [
            Problem(
                "require_single_statement",
                f"more than one statement ({len(statements)}): DANA runs exactly one",
            )
        ]
    return []


def require_read_statement(statement: Statement) -> list[Problem]:
    """The statement itself must be a query; an allowlist, so new statement types fail closed."""
    root = statement.expression
    # Writes and commands are named more precisely by their own rules.
    if isinstance(root, READ_STATEMENTS + _WRITE_TYPES + (exp.Command,)):
        return []
    keyword = statement_keyword(root)
    return [
        Problem(
            "require_read_statement",
            f"the statement {keyword} is not allowed; {ONLY_READS}",
        )
    ]


def reject_writes(statement: Statement) -> list[Problem]:
    """Nothing anywhere in the tree may write, including data-changing CTEs."""
    problems = []
    for node in statement.nodes.of(*_WRITE_TYPES):
        verb = next(verb for cls, verb in WRITES.items() if isinstance(node, cls))
        problems.append(
            Problem("reject_writes", f"the query {verb} {_target_of(node)}; {ONLY_READS}")
        )
    return _unique(problems)


def reject_into(statement: Statement) -> list[Problem]:
    """`SELECT ... INTO` creates a table (PostgreSQL) or fills variables and files (MySQL)."""
    problems = []
    for into in statement.nodes.of(exp.Into):
        target = into.this
        if isinstance(target, exp.Table) and isinstance(target.this, exp.Identifier):
            message = (
                f"the query creates table {table_name(target)} (SELECT ... INTO); {ONLY_READS}"
            )
        else:
            message = f"the query stores its result (SELECT ... INTO); {ONLY_READS}"
        problems.append(Problem("reject_into", message))
    return _unique(problems)


def reject_locking(statement: Statement) -> list[Problem]:
    """Row locks (FOR UPDATE, FOR SHARE) block other sessions and only make sense before a write."""
    problems = []
    for lock in statement.nodes.of(exp.Lock):
        clause = _lock_clause(lock)
        problems.append(Problem("reject_locking", f"the query locks rows ({clause}); {ONLY_READS}"))
    return _unique(problems)


def reject_commands(statement: Statement) -> list[Problem]:
    """sqlglot keeps statements it cannot parse as opaque commands; none of them may run."""
    problems = []
    for command in statement.nodes.of(exp.Command):
        keyword = command.name.upper() or "unknown"
        problems.append(
            Problem("reject_commands", f"the statement {keyword} is not allowed; {ONLY_READS}")
        )
    return _unique(problems)


def reject_variables(statement: Statement) -> list[Problem]:
    """MySQL `@a := 1` changes session state; `@@secure_file_priv` reads server settings."""
    problems = []
    for assignment in statement.nodes.of(exp.PropertyEQ):
        if isinstance(assignment.this, exp.Parameter):
            variable = assignment.this.sql(dialect=statement.dialect)
            message = f"the query sets the variable {variable}; {ONLY_READS}"
            problems.append(Problem("reject_variables", message))
    for setting in statement.nodes.of(exp.SessionParameter):
        name = setting.sql(dialect=statement.dialect)
        problems.append(Problem("reject_variables", f"the server setting {name} is not allowed"))
    return _unique(problems)


def allow_functions(statement: Statement) -> list[Problem]:
    """Every function called must be on the allowlist of the target dialect."""
    problems = []
    for function in statement.nodes.of(exp.Func):
        qualifier = _schema_of_call(function)
        safe_schema = qualifier is None or qualifier.lower() in BUILTIN_SCHEMAS[statement.dialect]
        if safe_schema and is_safe_function(function, statement.dialect):
            continue
        # Named as written: rendered in the dialect the text was read in.
        name = function_name(function, statement.read_in or statement.dialect)
        if qualifier is None and is_foreign_function(function, statement.dialect):
            where = DISPLAY_NAMES[statement.dialect]
            problems.append(
                Problem(FOREIGN_FUNCTION, f"the function {name} does not exist in {where}")
            )
        else:
            shown = f"{qualifier}.{name}" if qualifier else name
            problems.append(Problem("allow_functions", f"the function {shown} is not allowed"))
    return _unique(problems)


def reject_executable_comments(sql: str, dialect: str) -> list[Problem]:
    """MySQL runs the text of `/*! ... */` comments: hidden SQL is refused, never dropped quietly."""
    # The output is regenerated without comments, so such text could not run anyway;
    # refusing says plainly that the query was not what it looked like.
    if ("/*!" not in sql and "/*M!" not in sql) or not _has_executable_comment(sql, dialect):
        return []
    return [
        Problem(
            "reject_executable_comments",
            "the query hides SQL in an executable comment (/*! ... */); DANA does not run it",
        )
    ]


def _has_executable_comment(sql: str, dialect: str) -> bool:
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except SqlglotError:
        return False  # the parser will refuse the text anyway
    if not tokens:
        return True  # nothing but comments, one of them executable
    comments = (comment for token in tokens for comment in token.comments)
    return any(comment.startswith(("!", "M!")) for comment in comments)


StatementRule = Callable[[Statement], list[Problem]]

STATEMENT_RULES: tuple[StatementRule, ...] = (
    require_read_statement,
    reject_writes,
    reject_into,
    reject_locking,
    reject_commands,
    reject_variables,
    allow_functions,
)


def check_statement(statement: Statement) -> list[Problem]:
    """The problems every statement rule finds, in rule order."""
    problems: list[Problem] = []
    for rule in STATEMENT_RULES:
        problems.extend(rule(statement))
    return problems


def statement_keyword(root: exp.Expr) -> str:
    """The keyword a statement starts with, as the user wrote it (PRAGMA, SHOW, LISTEN)."""
    for cls, keyword in _STATEMENT_KEYWORDS.items():
        if isinstance(root, cls):
            return keyword
    if isinstance(root, (exp.Column, exp.Alias, exp.Identifier)):
        # An unknown keyword parses as a bare name: its first word is the statement.
        words = root.sql().split()
        return words[0].strip('"`').upper() if words else "unknown"
    return type(root).__name__.upper()


def table_name(table: exp.Table) -> str:
    """`schema.name` as written, without quotes."""
    return ".".join(part.name for part in table.parts)


def _target_of(node: exp.Expr) -> str:
    kind = str(node.args.get("kind") or "table").lower()
    table = node.this if isinstance(node.this, exp.Table) else node.find(exp.Table)
    if table is not None and table.name:
        return f"{kind} {table_name(table)}"
    if isinstance(node, exp.Copy):
        return "data to or from a file (COPY)"
    return f"a {kind}"


def _lock_clause(lock: exp.Lock) -> str:
    if lock.args.get("update"):
        return "FOR NO KEY UPDATE" if lock.args.get("key") else "FOR UPDATE"
    return "FOR KEY SHARE" if lock.args.get("key") else "FOR SHARE"


def _schema_of_call(function: exp.Func) -> str | None:
    """`myschema` for `myschema.f(x)`: a qualified call may reach a user-defined function."""
    parent = function.parent
    if isinstance(parent, exp.Dot) and parent.expression is function:
        return parent.this.sql() if parent.this is not None else None
    return None


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
