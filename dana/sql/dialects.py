"""What the guard needs to know about each target database: names, quoting, keywords."""

from __future__ import annotations

import re

from sqlglot.dialects.mysql import MySQL

DIALECTS = ("postgres", "mysql", "sqlite")

# Dialects a text is tried in when it does not read as its target's. SQLite is left out:
# its bracket quoting reads `ARRAY[1, 2]` as a name, which converts into nonsense.
FALLBACK_DIALECTS = ("postgres", "mysql")

_ALIASES = {"postgresql": "postgres", "pg": "postgres", "mariadb": "mysql", "sqlite3": "sqlite"}

DISPLAY_NAMES = {"postgres": "PostgreSQL", "mysql": "MySQL", "sqlite": "SQLite"}

# PostgreSQL's reserved key words, and those that cannot name a column without quotes
# (appendix "SQL Key Words"). Quoting a lowercase name changes nothing there, so the
# list may be generous.
_POSTGRES_RESERVED = """
all analyse analyze and any array as asc asymmetric authorization between bigint binary
bit boolean both case cast char character check coalesce collate collation column
concurrently constraint create cross current_catalog current_date current_role
current_schema current_time current_timestamp current_user dec decimal default deferrable
desc distinct do else end except exists extract false fetch float for foreign freeze
from full grant greatest group grouping having ilike in initially inner inout int integer
intersect interval into is isnull join lateral leading least left like limit localtime
localtimestamp national natural nchar none normalize not notnull null nullif numeric
offset on only or order out outer overlaps overlay placing position precision primary
real references returning right row select session_user setof similar smallint some
substring symmetric system_user table tablesample then time timestamp to trailing treat
trim true union unique user using values varchar variadic verbose when where window with
"""

# SQLite's key words (lang_keywords): any of them may need quotes depending on context.
_SQLITE_KEYWORDS = """
abort action add after all alter always analyze and as asc attach autoincrement before
begin between by cascade case cast check collate column commit conflict constraint create
cross current current_date current_time current_timestamp database default deferrable
deferred delete desc detach distinct do drop each else end escape except exclude exclusive
exists explain fail filter first following for foreign from full generated glob group
groups having if ignore immediate in index indexed initially inner insert instead
intersect into is isnull join key last left like limit match materialized natural no not
nothing notnull null nulls of offset on or order others outer over partition plan pragma
preceding primary query raise range recursive references regexp reindex release rename
replace restrict returning right rollback row rows savepoint select set table temp
temporary then ties to transaction trigger unbounded union unique update using vacuum
values view virtual when where window with without
"""

RESERVED_WORDS: dict[str, frozenset[str]] = {
    "postgres": frozenset(_POSTGRES_RESERVED.split()),
    "mysql": frozenset(word.lower() for word in MySQL.Generator.RESERVED_KEYWORDS),
    "sqlite": frozenset(_SQLITE_KEYWORDS.split()),
}

# Names that read as plain words without quotes in each dialect. PostgreSQL folds
# unquoted names to lowercase, so any capital letter needs quotes to survive.
_PLAIN_NAME = {
    "postgres": re.compile(r"[a-z_][a-z0-9_$]*"),
    "mysql": re.compile(r"[A-Za-z0-9_$]*[A-Za-z_$][A-Za-z0-9_$]*"),
    "sqlite": re.compile(r"[A-Za-z_][A-Za-z0-9_]*"),
}

# Bare words that each database reads as the current date or time, not as a column,
# when no column of that name is in scope. `user` is not among them: a model that
# writes `SELECT user` means a column, and the current role is nothing to show.
KEYWORD_VALUES: dict[str, frozenset[str]] = {
    "postgres": frozenset(
        "current_date current_time current_timestamp localtime localtimestamp".split()
    ),
    "mysql": frozenset(
        "current_date current_time current_timestamp localtime localtimestamp "
        "utc_date utc_time utc_timestamp".split()
    ),
    "sqlite": frozenset("current_date current_time current_timestamp".split()),
}

# Columns every table has without declaring them.
PSEUDO_COLUMNS: dict[str, frozenset[str]] = {
    "postgres": frozenset("ctid xmin xmax cmin cmax tableoid".split()),
    "mysql": frozenset(),
    "sqlite": frozenset("rowid _rowid_ oid".split()),
}

# The schema a bare table name lives in, for caches that store no schema name.
DEFAULT_SCHEMAS: dict[str, frozenset[str]] = {
    "postgres": frozenset({"public"}),
    "mysql": frozenset(),
    "sqlite": frozenset({"main"}),
}


def normalize_dialect(dialect: str) -> str:
    """The guard's name for `dialect` ("postgresql" -> "postgres", "mariadb" -> "mysql")."""
    name = dialect.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in DIALECTS:
        raise ValueError(f"the dialect {dialect!r} is not supported; use postgres, mysql or sqlite")
    return name


def needs_quotes(name: str, dialect: str) -> bool:
    """Whether `name`, spelled exactly so, must be quoted to mean itself in `dialect`.

    >>> needs_quotes("OrderItems", "postgres"), needs_quotes("order", "mysql")
    (True, True)
    >>> needs_quotes("orders", "postgres")
    False
    """
    if not _PLAIN_NAME[dialect].fullmatch(name):
        return True
    return name.lower() in RESERVED_WORDS[dialect]
