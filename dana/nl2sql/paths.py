"""Which foreign-key path joins two tables, and whether another one is just as short.

"Revenue by region" on a shop where both customers and stores have a region joins order
lines to regions in two equally short ways, and they give different answers. The renderer
joins along the first shortest path, as it always has; this module finds the others, so
that a question about a dimension can ask which one is meant, and so that a word of the
question ("store region") can pick one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dana.nl2sql.lexicon import name_words, singular

if TYPE_CHECKING:
    from dana.nl2sql.render import Edge

# Enough to tell "one way" from "several ways"; wide schemas could have very many.
MAX_PATHS = 6

Step = tuple[str, "Edge"]  # the table reached, and the edge that reaches it


@dataclass(frozen=True)
class Ambiguity:
    """`target` is reached from the joined tables by several equally short paths."""

    target: str
    paths: tuple[tuple[Step, ...], ...]

    def ends(self) -> set[str]:
        """The tables at either end of the paths."""
        return {self.target} | {start_of(path) for path in self.paths}


def start_of(path: tuple[Step, ...]) -> str:
    table, edge = path[0]
    return edge.ref_table if edge.table == table else edge.table


def shortest_paths(start: list[str], target: str, edges: list[Edge]) -> list[tuple[Step, ...]]:
    """Every shortest path from any table of `start` to `target` (at most MAX_PATHS), each
    a different set of joined column pairs."""
    distance = distances(start, edges)
    if target not in distance:
        return []
    found: dict[frozenset, tuple[Step, ...]] = {}
    for path in _back_from(target, distance, edges):
        found.setdefault(frozenset(_pair(edge) for _, edge in path), path)
        if len(found) >= MAX_PATHS:
            break
    return list(found.values())


def preferred(paths: list[tuple[Step, ...]], hints: Iterable[str]) -> tuple[Step, ...] | None:
    """The one path that passes through more of the tables or columns ("table.column") a
    question names."""
    wanted = {h.lower() for h in hints}
    scores = [len(_names(path) & wanted) for path in paths]
    best = max(scores, default=0)
    if best == 0 or scores.count(best) > 1:
        return None
    return paths[scores.index(best)]


def choices(ambiguity: Ambiguity, dimension: str) -> list[str]:
    """How to name each path to `dimension` in a question back to the user: "the store's
    region" when the paths pass through different tables, "billing region" when through
    different columns of one table."""
    walks = [_walk_from(dimension, path) for path in ambiguity.paths]
    noun = _words(dimension)
    depth = min(len(w) for w in walks)
    for k in range(depth):
        tables = [w[k][0] for w in walks]
        columns = [w[k][1] for w in walks]
        if len(set(tables)) == len(walks):
            return [f"the {_words(t)}'s {noun}" for t in tables]
        if len(set(columns)) == len(walks):
            return [_column_words(c) or f"{noun} ({c})" for c in columns]
    return [" then ".join(_words(t) for t, _ in w) for w in walks]


def _walk_from(dimension: str, path: tuple[Step, ...]) -> list[tuple[str, str]]:
    """The path as (table, joining columns) pairs, starting next to `dimension`."""
    nodes = [start_of(path)] + [table for table, _ in path]
    edges = [edge for _, edge in path]
    if nodes[-1] == dimension:
        nodes, edges = nodes[::-1], edges[::-1]
    return [(nodes[k + 1], ",".join(edge.columns)) for k, edge in enumerate(edges)]


def distances(start: list[str], edges: list[Edge]) -> dict[str, int]:
    """How many joins away from `start` each reachable table is."""
    distance = {name: 0 for name in start}
    queue = deque(start)
    while queue:
        current = queue.popleft()
        for edge in edges:
            for near, far in ((edge.table, edge.ref_table), (edge.ref_table, edge.table)):
                if near == current and far not in distance:
                    distance[far] = distance[current] + 1
                    queue.append(far)
    return distance


def _back_from(node: str, distance: dict[str, int], edges: list[Edge]) -> Iterable[tuple]:
    if distance[node] == 0:
        yield ()
        return
    for edge in edges:
        for near, far in ((edge.table, edge.ref_table), (edge.ref_table, edge.table)):
            if near == node and distance.get(far) == distance[node] - 1:
                for path in _back_from(far, distance, edges):
                    yield path + ((node, edge),)


def _pair(edge: Edge) -> frozenset:
    # The same key declared twice, or once from each side, is one way to join.
    return frozenset({(edge.table, edge.columns), (edge.ref_table, edge.ref_columns)})


def _names(path: tuple[Step, ...]) -> set[str]:
    names = {start_of(path).lower()}
    for table, edge in path:
        names.add(table.lower())
        names.update(f"{edge.table}.{c}".lower() for c in edge.columns)
        names.update(f"{edge.ref_table}.{c}".lower() for c in edge.ref_columns)
    return names


def _words(table: str) -> str:
    return " ".join(singular(w) for w in name_words(table))


def _column_words(column: str) -> str:
    words = [w for w in name_words(column) if w not in ("id", "fk", "key", "code")]
    return " ".join(words)
