"""From search hits to the context a translator gets: tables, join paths, values, budget."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence

from dana.retrieval.documents import quote_sample, words_of
from dana.retrieval.store import Hit
from dana.schema import Context, JoinStep, Schema, Table, ValueMatch

MAX_TABLES = 6


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def table_tokens(table: Table) -> int:
    return estimate_tokens(render_table(table))


def render_table(table: Table) -> str:
    """A compact text form of a table, as a prompt shows it."""
    columns = []
    for column in table.columns:
        text = f"{column.name} {column.type}".strip()
        if column.primary_key:
            text += " pk"
        if column.samples:
            text += " e.g. " + ", ".join(quote_sample(v) for v in column.samples[:3])
        columns.append(text)
    keys = [
        f"{','.join(fk.columns)} -> {fk.ref_table}({','.join(fk.ref_columns)})"
        for fk in table.foreign_keys
    ]
    line = f"{table.name}({'; '.join(columns)})"
    return line + (f" fk: {'; '.join(keys)}" if keys else "")


def rank_tables(schema: Schema, hits: Sequence[Hit]) -> list[str]:
    """Table names by the best score any of their documents got, best first."""
    best: dict[str, float] = {}
    for hit in hits:
        name = hit.ref.split(".", 1)[0] if hit.kind == "column" else hit.ref
        if hit.kind == "column":
            # A table with several matching columns is more likely than one with one.
            best[name] = max(best.get(name, 0.0), hit.score) + 0.02
        else:
            best[name] = max(best.get(name, 0.0), hit.score)
    known = {t.name for t in schema.tables}
    return [name for name, _ in sorted(best.items(), key=lambda kv: -kv[1]) if name in known]


def named_tables(question: str, schema: Schema) -> list[str]:
    """Tables whose whole name the question says, in singular or plural ("refund", "regions").

    One embedding of a question about several things lands near only one of them: among
    800 tables, "refund rate by region" finds refunds but ranks regions two hundredth.
    """
    said = " " + " ".join(_singular(w) for w in re.findall(r"[a-z0-9]+", question.lower())) + " "
    named = []
    for table in schema.tables:
        words = " ".join(_singular(w) for w in words_of(table.name).split())
        if words and f" {words} " in said:
            named.append(table.name)
    return named


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def foreign_key_graph(schema: Schema) -> dict[str, list[JoinStep]]:
    graph: dict[str, list[JoinStep]] = {t.name: [] for t in schema.tables}
    # A dict, not schema.table(): that scans every table, once per key of a large schema.
    by_name = {t.name.lower(): t for t in schema.tables}
    for table in schema.tables:
        for fk in table.foreign_keys:
            target = by_name.get(fk.ref_table.lower()) or schema.table(fk.ref_table)
            if target is None:
                continue
            step = JoinStep(table.name, fk.columns, target.name, fk.ref_columns)
            back = JoinStep(target.name, fk.ref_columns, table.name, fk.columns)
            graph[table.name].append(step)
            graph[target.name].append(back)
    return graph


def shortest_path(
    graph: dict[str, list[JoinStep]], start: str, goal: str
) -> tuple[JoinStep, ...] | None:
    """The fewest foreign-key steps from `start` to `goal` (breadth-first)."""
    if start == goal:
        return ()
    seen = {start}
    queue: deque[tuple[str, tuple[JoinStep, ...]]] = deque([(start, ())])
    while queue:
        node, path = queue.popleft()
        for step in graph.get(node, []):
            if step.ref_table in seen:
                continue
            if step.ref_table == goal:
                return path + (step,)
            seen.add(step.ref_table)
            queue.append((step.ref_table, path + (step,)))
    return None


def join_paths(schema: Schema, tables: Sequence[str]) -> list[tuple[JoinStep, ...]]:
    """Paths that connect every chosen table to the first one."""
    graph = foreign_key_graph(schema)
    paths = []
    for other in tables[1:]:
        path = shortest_path(graph, tables[0], other)
        if path:
            paths.append(path)
    return paths


def match_values(question: str, schema: Schema, limit: int = 10) -> list[ValueMatch]:
    """Stored values that the question names, longest phrase first."""
    lowered = " " + re.sub(r"\s+", " ", question.lower()) + " "
    matches: list[ValueMatch] = []
    for table in schema.tables:
        for column in table.columns:
            for value in column.samples:
                v = value.strip().lower()
                if len(v) < 2 or v.isdigit():
                    continue
                if re.search(r"(?<![\w])" + re.escape(v) + r"(?![\w])", lowered):
                    matches.append(ValueMatch(table.name, column.name, value, v, float(len(v))))
    matches.sort(key=lambda m: -m.score)
    return matches[:limit]


def assemble(
    question: str,
    schema: Schema,
    hits: Sequence[Hit],
    budget_tokens: int,
    examples: Sequence[tuple[str, str]] = (),
) -> Context:
    """The few tables the question needs, joined up, cut to `budget_tokens`."""
    values = match_values(question, schema)
    total = sum(table_tokens(t) for t in schema.tables)
    if total <= budget_tokens:
        chosen = [t.name for t in schema.tables]
    else:
        named = named_tables(question, schema)
        # Stable: tables the question names first, each group in the order of the search.
        ranked = sorted(_dedupe(rank_tables(schema, hits) + named), key=lambda n: n not in named)
        for match in values:
            if match.table not in ranked[:MAX_TABLES]:
                ranked.insert(min(len(ranked), 2), match.table)
        chosen = _with_bridges(schema, _dedupe(ranked)[:MAX_TABLES], budget_tokens)
    paths = join_paths(schema, chosen) if len(chosen) > 1 else []
    subset = Schema(
        tables=tuple(t for t in schema.tables if t.name in set(chosen)),
        dialect=schema.dialect,
        server_version=schema.server_version,
    )
    tokens = sum(table_tokens(t) for t in subset.tables)
    return Context(
        schema=subset,
        join_paths=tuple(paths),
        values=tuple(v for v in values if v.table in set(chosen)),
        examples=tuple(examples),
        full_table_count=len(schema.tables),
        tokens=tokens,
        catalog=tuple(t.name for t in schema.tables),
    )


def _dedupe(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _with_bridges(schema: Schema, ranked: Sequence[str], budget_tokens: int) -> list[str]:
    """Greedily take ranked tables, plus the tables their join paths pass through."""
    graph = foreign_key_graph(schema)
    chosen: list[str] = []
    used = 0
    for name in ranked:
        if name in chosen:
            continue
        addition = [name]
        if chosen:
            path = _closest_path(graph, chosen, name)
            if path:
                addition = [s.ref_table for s in path if s.ref_table not in chosen]
        cost = sum(table_tokens(schema.table(n)) for n in addition if schema.table(n))
        if chosen and used + cost > budget_tokens:
            continue
        chosen.extend(n for n in addition if n not in chosen)
        used += cost
    return chosen


def _closest_path(
    graph: dict[str, list[JoinStep]], chosen: Sequence[str], goal: str
) -> tuple[JoinStep, ...] | None:
    paths = [p for p in (shortest_path(graph, c, goal) for c in chosen) if p is not None]
    return min(paths, key=len) if paths else None


def describe(context: Context) -> dict:
    """The context as JSON for `dana context --json`."""
    return {
        "tables": [t.name for t in context.schema.tables],
        "columns": {t.name: [c.name for c in t.columns] for t in context.schema.tables},
        "join_paths": [
            [
                f"{s.table}.{','.join(s.columns)} = {s.ref_table}.{','.join(s.ref_columns)}"
                for s in path
            ]
            for path in context.join_paths
        ],
        "values": [
            {"table": v.table, "column": v.column, "value": v.value} for v in context.values
        ],
        "tokens": context.tokens,
        "table_count": context.full_table_count,
    }


__all__ = ["assemble", "describe", "render_table", "words_of"]
