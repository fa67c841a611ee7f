"""Tables and columns checked against the cached schema, then spelled as the database does.

Names are matched without regard to case, through aliases, CTEs, derived tables and
correlated subqueries. Once matched, each name takes its cached spelling and the
dialect's quoting, so `select Total from ORDERS` runs as `SELECT total FROM orders`
and a mixed-case PostgreSQL table keeps its double quotes.
"""

from __future__ import annotations

import difflib
import weakref
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from dana.schema import Column, Schema, Table
from dana.sql.dialects import (
    DEFAULT_SCHEMAS,
    KEYWORD_VALUES,
    PSEUDO_COLUMNS,
    RESERVED_WORDS,
    needs_quotes,
)
from dana.sql.parsing import Statement
from dana.sql.problems import Problem


class Catalog:
    """A cached schema indexed by lowercase name, built once per `Schema` object."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.tables: dict[str, Table] = {}
        self.columns: dict[str, dict[str, Column]] = {}
        for table in schema.tables:
            self.tables.setdefault(table.name.lower(), table)
            if table.schema:
                self.tables.setdefault(f"{table.schema}.{table.name}".lower(), table)
            self.columns[_key(table)] = {column.name.lower(): column for column in table.columns}
        self.spellings = {table.name.lower(): table.name for table in schema.tables}

    def table(self, name: str, db: str, dialect: str) -> Table | None:
        """The cached table `db.name` (or `name`), matched without regard to case."""
        if not db:
            return self.tables.get(name.lower())
        qualified = self.tables.get(f"{db}.{name}".lower())
        if qualified is not None:
            return qualified
        # A cache without schema names still knows the default schema's tables.
        bare = self.tables.get(name.lower())
        if bare is not None and bare.schema is None and db.lower() in DEFAULT_SCHEMAS[dialect]:
            return bare
        return None

    def column(self, table: Table, name: str) -> Column | None:
        return self.columns[_key(table)].get(name.lower())

    def closest_table(self, name: str) -> str | None:
        return _closest(name, self.spellings)


_catalogs: dict[int, tuple[weakref.ref[Schema], Catalog]] = {}


def catalog_of(schema: Schema) -> Catalog:
    """The catalog of `schema`, kept while the schema object lives (one index per cache load)."""
    entry = _catalogs.get(id(schema))
    if entry is not None and entry[0]() is schema:
        return entry[1]

    catalog = Catalog(schema)
    key = id(schema)
    _catalogs[key] = (weakref.ref(schema, lambda _: _catalogs.pop(key, None)), catalog)
    return catalog


@dataclass
class Resolution:
    """What each name of a statement refers to, and the names that refer to nothing."""

    dialect: str
    tables: list[tuple[exp.Table, Table]] = field(default_factory=list)
    columns: list[tuple[exp.Column, Table, Column, exp.Table]] = field(default_factory=list)
    cte_references: list[tuple[exp.Table, exp.Identifier]] = field(default_factory=list)
    unknown_tables: list[Problem] = field(default_factory=list)
    unknown_columns: list[Problem] = field(default_factory=list)


def resolve_names(statement: Statement, catalog: Catalog) -> Resolution:
    """Match every table and column of `statement` against `catalog`."""
    resolution = Resolution(statement.dialect)
    try:
        scopes = traverse_scope(statement.expression)
    except SqlglotError:
        message = "the names in this query could not be followed; simplify its subqueries"
        resolution.unknown_columns.append(Problem("require_known_columns", message))
        return resolution

    resolver = _Resolver(catalog, statement.dialect, scopes, resolution)
    for scope in scopes:
        resolver.resolve_tables(scope)
    for scope in scopes:
        resolver.resolve_columns(scope)
    return resolution


def require_known_tables(resolution: Resolution) -> list[Problem]:
    """Every table the query reads must be in the cached schema."""
    return list(dict.fromkeys(resolution.unknown_tables))


def require_known_columns(resolution: Resolution) -> list[Problem]:
    """Every column the query names must belong to a table, CTE or subquery it reads."""
    return list(dict.fromkeys(resolution.unknown_columns))


def use_cached_spelling(resolution: Resolution) -> None:
    """Rename matched tables and columns to their cached spelling, quoted where needed."""
    dialect = resolution.dialect
    for table_node, table in resolution.tables:
        _rename(table_node.this, table.name, dialect)
        if table_node.args.get("db") and table.schema:
            _rename(table_node.args["db"], table.schema, dialect)

    for reference, defined in resolution.cte_references:
        reference.this.set("this", defined.name)
        reference.this.set("quoted", defined.quoted)

    for node, table, column, source in resolution.columns:
        _rename(node.this, column.name, dialect)
        qualifier = node.args.get("table")
        if isinstance(qualifier, exp.Identifier) and not source.alias:
            # The column is qualified by the table's own name, which was just respelled.
            _rename(qualifier, table.name, dialect)
            if node.args.get("db") and table.schema:
                _rename(node.args["db"], table.schema, dialect)


def quote_reserved_identifiers(statement: Statement) -> None:
    """Quote aliases and other names that are reserved words, e.g. an alias `order`."""
    reserved = RESERVED_WORDS[statement.dialect]
    keywords = KEYWORD_VALUES[statement.dialect]
    for identifier in statement.nodes.of(exp.Identifier):
        lowered = identifier.name.lower()
        if identifier.quoted or lowered not in reserved:
            continue
        if lowered in keywords and _is_bare_column(identifier):
            continue  # `SELECT user` with no such column is the keyword, not a name
        if statement.dialect == "postgres":
            # Unquoted names fold to lowercase there; quoting must keep that meaning.
            identifier.set("this", identifier.name.lower())
        identifier.set("quoted", True)


def _is_bare_column(identifier: exp.Identifier) -> bool:
    column = identifier.parent
    return isinstance(column, exp.Column) and column.this is identifier and not column.table


def _rename(identifier: exp.Expr, name: str, dialect: str) -> None:
    if isinstance(identifier, exp.Identifier):
        identifier.set("this", name)
        identifier.set("quoted", needs_quotes(name, dialect))


class _Resolver:
    def __init__(
        self, catalog: Catalog, dialect: str, scopes: list[Scope], resolution: Resolution
    ) -> None:
        self.catalog = catalog
        self.dialect = dialect
        self.resolution = resolution
        self.bound: dict[int, Table] = {}
        self.seen_columns: set[int] = set()
        self.selected: dict[int, dict[str, exp.Table | Scope]] = {}
        # CTE names match without regard to case, unlike sqlglot's scope lookup.
        self.ctes: dict[str, Scope] = {}
        for scope in scopes:
            if scope.is_cte:
                cte = scope.expression.parent
                if isinstance(cte, exp.CTE) and cte.alias:
                    self.ctes.setdefault(cte.alias.lower(), scope)

    def resolve_tables(self, scope: Scope) -> None:
        for source in scope.sources.values():
            if not isinstance(source, exp.Table) or id(source) in self.bound:
                continue
            if not isinstance(source.this, exp.Identifier):
                continue  # a table function, checked by the function allowlist
            if not source.args.get("db") and source.name.lower() in self.ctes:
                self._reference_cte(source)
                continue
            table = self.catalog.table(source.name, source.db, self.dialect)
            if table is None:
                self._unknown_table(source)
                continue
            self.bound[id(source)] = table
            self.resolution.tables.append((source, table))

    def _reference_cte(self, source: exp.Table) -> None:
        cte = self.ctes[source.name.lower()].expression.parent
        if isinstance(cte, exp.CTE) and isinstance(cte.args.get("alias"), exp.TableAlias):
            defined = cte.args["alias"].this
            if isinstance(defined, exp.Identifier) and defined.name != source.name:
                self.resolution.cte_references.append((source, defined))

    def resolve_columns(self, scope: Scope) -> None:
        for column in scope.find_all(exp.Column):
            if id(column) in self.seen_columns:
                continue
            self.seen_columns.add(id(column))
            if column.table:
                self._resolve_qualified(scope, column)
            elif not isinstance(column.this, exp.Star):
                self._resolve_unqualified(scope, column)

    def _resolve_qualified(self, scope: Scope, column: exp.Column) -> None:
        source = self._find_source(scope, column.table)
        if source is None:
            message = f"'{column.table}' in {column.sql()} is not a table or alias of this query"
            self.resolution.unknown_columns.append(Problem("require_known_columns", message))
            return
        if isinstance(column.this, exp.Star):
            return

        name = column.name
        renamed = _renamed_columns(source)
        if renamed is not None:
            if name.lower() not in renamed:
                self._unknown_output(name, column.table)
            return
        if isinstance(source, exp.Table):
            table = self.bound.get(id(source))
            if table is None or self._is_pseudo(name):
                return  # unknown tables are reported once, as tables
            found = self.catalog.column(table, name)
            if found is None:
                self._unknown_column(name, [table], [])
            else:
                self.resolution.columns.append((column, table, found, source))
            return

        outputs = self._outputs(source) if isinstance(source, Scope) else None
        if outputs is not None and name.lower() not in outputs:
            self._unknown_output(name, column.table)

    def _resolve_unqualified(self, scope: Scope, column: exp.Column) -> None:
        name = column.name
        lowered = name.lower()
        current: Scope | None = scope
        # Look in this scope first, then outwards for correlated subqueries.
        while current is not None:
            if self._bind_in(current, column, lowered):
                return
            if current is scope and self._is_output_name(current, lowered):
                return  # ORDER BY / GROUP BY / HAVING on an output name
            current = current.parent

        if lowered in KEYWORD_VALUES[self.dialect] or self._is_pseudo(name):
            return
        self._unknown_column(name, self._tables_in(scope), self._other_sources(scope))

    def _bind_in(self, scope: Scope, column: exp.Column, lowered: str) -> bool:
        """Bind `column` to a source of `scope`; True when it is found or cannot be ruled out."""
        uncertain = False
        for source in self._selected(scope).values():
            renamed = _renamed_columns(source)
            if renamed is not None:
                uncertain = uncertain or lowered in renamed
            elif isinstance(source, exp.Table):
                table = self.bound.get(id(source))
                if table is None:
                    # Unknown tables, table functions and CTEs by another spelling.
                    cte = self.ctes.get(source.name.lower()) if not source.db else None
                    outputs = self._outputs(cte) if cte is not None else None
                    if outputs is None or lowered in outputs:
                        uncertain = True
                    continue
                found = self.catalog.column(table, lowered)
                if found is not None:
                    self.resolution.columns.append((column, table, found, source))
                    return True
            elif isinstance(source, Scope):
                outputs = self._outputs(source)
                if outputs is None or lowered in outputs:
                    uncertain = True
        return uncertain

    def _find_source(self, scope: Scope, qualifier: str) -> exp.Table | Scope | None:
        lowered = qualifier.lower()
        current: Scope | None = scope
        while current is not None:
            for name, source in self._selected(current).items():
                if name.lower() == lowered:
                    return source
            current = current.parent
        return self.ctes.get(lowered)

    def _selected(self, scope: Scope) -> dict[str, exp.Table | Scope]:
        """The sources a scope reads in FROM and JOIN; CTEs it never names are left out."""
        selected = self.selected.get(id(scope))
        if selected is None:
            try:
                selected = {name: source for name, (_, source) in scope.selected_sources.items()}
            except SqlglotError:
                selected = dict(scope.sources)  # a repeated alias: the database will say so
            self.selected[id(scope)] = selected
        return selected

    def _outputs(self, scope: Scope) -> set[str] | None:
        """The lowercase column names a CTE or subquery yields; None when they cannot be known."""
        if scope.outer_columns:
            return {name.lower() for name in scope.outer_columns}
        expression = scope.expression
        if isinstance(expression, exp.SetOperation) and scope.set_operation_scopes:
            return self._outputs(scope.set_operation_scopes[0])
        if not isinstance(expression, exp.Select):
            return None

        names: set[str] = set()
        for projection in expression.expressions:
            if isinstance(projection, exp.Alias):
                names.add(projection.alias.lower())
            elif isinstance(projection, exp.Column) and not isinstance(projection.this, exp.Star):
                names.add(projection.name.lower())
            elif isinstance(projection, (exp.Star, exp.Column)):
                expanded = self._star_columns(scope, projection)
                if expanded is None:
                    return None
                names |= expanded
            else:
                return None  # an unnamed expression: each database names it differently
        return names

    def _star_columns(self, scope: Scope, star: exp.Expr) -> set[str] | None:
        qualifier = star.table.lower() if isinstance(star, exp.Column) else ""
        names: set[str] = set()
        for name, source in self._selected(scope).items():
            if qualifier and name.lower() != qualifier:
                continue
            if isinstance(source, exp.Table) and id(source) in self.bound:
                names |= set(self.catalog.columns[_key(self.bound[id(source)])])
            elif isinstance(source, Scope):
                outputs = self._outputs(source)
                if outputs is None:
                    return None
                names |= outputs
            else:
                return None
        return names

    def _is_output_name(self, scope: Scope, lowered: str) -> bool:
        expression = scope.expression
        if isinstance(expression, exp.SetOperation):
            outputs = self._outputs(scope)
            return outputs is None or lowered in outputs
        if isinstance(expression, exp.Select):
            aliases = (p.alias.lower() for p in expression.expressions if isinstance(p, exp.Alias))
            return lowered in aliases
        return False

    def _other_sources(self, scope: Scope) -> list[str]:
        """Names of the CTEs and subqueries a scope reads, for messages."""
        names = []
        for name, source in self._selected(scope).items():
            if isinstance(source, Scope) or id(source) not in self.bound:
                names.append(name)
        return names

    def _tables_in(self, scope: Scope) -> list[Table]:
        return [
            self.bound[id(source)]
            for source in self._selected(scope).values()
            if isinstance(source, exp.Table) and id(source) in self.bound
        ]

    def _is_pseudo(self, name: str) -> bool:
        return name.lower() in PSEUDO_COLUMNS[self.dialect]

    def _unknown_table(self, source: exp.Table) -> None:
        written = ".".join(part.name for part in source.parts)
        message = f"table '{written}' does not exist"
        closest = self.catalog.closest_table(source.name)
        if closest:
            message += f"; did you mean {closest}?"
        self.resolution.unknown_tables.append(Problem("require_known_tables", message))

    def _unknown_column(self, name: str, tables: list[Table], others: list[str]) -> None:
        message = f"column '{name}' does not exist"
        places = [table.name for table in tables] + others
        if places:
            message += " in " + " or ".join(dict.fromkeys(places))
        spellings: dict[str, str] = {}
        for table in tables:
            for column in table.columns:
                shown = column.name if len(tables) == 1 else f"{table.name}.{column.name}"
                spellings.setdefault(column.name.lower(), shown)
        closest = _closest(name, spellings)
        if closest:
            message += f"; did you mean {closest}?"
        self.resolution.unknown_columns.append(Problem("require_known_columns", message))

    def _unknown_output(self, name: str, source_name: str) -> None:
        message = f"column '{name}' does not exist in {source_name}"
        self.resolution.unknown_columns.append(Problem("require_known_columns", message))


def _renamed_columns(source: exp.Table | Scope) -> set[str] | None:
    """The column names an alias gives a table, as in `FROM orders AS o(a, b)`."""
    if not isinstance(source, exp.Table):
        return None
    alias = source.args.get("alias")
    if not isinstance(alias, exp.TableAlias) or not alias.columns:
        return None
    return {column.name.lower() for column in alias.columns}


def _closest(name: str, spellings: dict[str, str]) -> str | None:
    """The spelling whose lowercase key is closest to `name`, if any is close."""
    matches = difflib.get_close_matches(name.lower(), list(spellings), n=1, cutoff=0.6)
    return spellings[matches[0]] if matches else None


def _key(table: Table) -> str:
    return f"{table.schema or ''}.{table.name}".lower()
