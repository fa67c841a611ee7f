"""Retrieval at scale: indexing a large schema, vector search latency and recall, context size.

    .venv/bin/python bench/bench_retrieval.py [--report PATH] [--no-write] [--organizations N]

Runs on a private embedded PostgreSQL in a temporary data folder (stopped and removed at
the end) with the packaged embedding model:

1. index: a schema of 1,000 tables of 10 columns becomes documents and is synced into a
   scratch organization (target: 60 s or less);
2. search: 100 organizations of 1,000 documents each (100,000 rows); search latency as
   the app's role under row-level security, and recall@20 against an exact scan
   (targets: p50 of 20 ms or less, recall of 0.95 or more). Their vectors are those of
   step 1 with a little noise, so the rows cluster as real schema documents do;
3. context: tokens and tables of the context for schemas of 10, 100 and 1,000 tables
   (target: flat).

Prints the section and appends it to bench/report.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402

from dana.config import Settings  # noqa: E402
from dana.db import accounts, embedded  # noqa: E402
from dana.db.audit import Actor  # noqa: E402
from dana.db.migrate import upgrade  # noqa: E402
from dana.db.session import execute, fetch_all  # noqa: E402
from dana.integrations.registry import Registered  # noqa: E402
from dana.integrations.urls import ConnectionConfig  # noqa: E402
from dana.retrieval.documents import schema_documents  # noqa: E402
from dana.retrieval.embedder import Embedder, get_embedder  # noqa: E402
from dana.retrieval.store import search, sync_documents, vector_literal  # noqa: E402
from dana.runtime import Runtime  # noqa: E402
from dana.schema import Column, ForeignKey, Schema, Table  # noqa: E402

REPORT = Path(__file__).resolve().parent / "report.md"
K = 20
DOCUMENTS_PER_ORGANIZATION = 1_000
QUERIES = 300
NOISE = 0.02  # standard deviation per dimension, before normalising again

DOMAINS = (
    "hr inventory marketing finance support logistics crm billing analytics "
    "procurement legal it facilities product sales payroll compliance manufacturing "
    "quality research"
).split()
ENTITIES = (
    "accounts assets audits budgets campaigns categories contacts contracts costs "
    "departments documents events expenses forecasts goals incidents invoices items "
    "leads locations logs meetings notes payments plans policies projects reports "
    "requests reviews schedules shipments suppliers tasks teams templates tickets "
    "trainings vendors warehouses licenses orders_archive claims quotes batches "
    "surveys permits devices rotas milestones"
).split()
COLUMNS = [
    tuple(pair.split(":"))
    for pair in (
        "name:text title:text status:text description:text code:text email:text notes:text "
        "created_at:timestamp updated_at:timestamp starts_on:date ends_on:date amount:numeric "
        "quantity:integer score:real owner_id:integer priority:text currency:text "
        "approved_at:timestamp cost_center:text country:text"
    ).split()
]
SAMPLES = {
    "status": ("open", "closed", "pending", "cancelled"),
    "priority": ("low", "medium", "high"),
    "currency": ("EUR", "USD", "GBP"),
    "country": ("France", "Germany", "Spain", "Japan"),
}
CORE = (
    Table(
        "regions",
        (
            Column("id", "integer", primary_key=True),
            Column("name", "text", samples=("North", "South", "East", "West")),
        ),
    ),
    Table(
        "customers",
        (
            Column("id", "integer", primary_key=True),
            Column("name", "text"),
            Column("country", "text", samples=SAMPLES["country"]),
        ),
    ),
    Table(
        "orders",
        (
            Column("id", "integer", primary_key=True),
            Column("customer_id", "integer"),
            Column("region_id", "integer"),
            Column("total", "numeric"),
            Column("ordered_at", "timestamp"),
        ),
        foreign_keys=(
            ForeignKey(("customer_id",), "customers", ("id",)),
            ForeignKey(("region_id",), "regions", ("id",)),
        ),
    ),
    Table(
        "refunds",
        (
            Column("id", "integer", primary_key=True),
            Column("order_id", "integer"),
            Column("amount", "numeric"),
            Column("refunded_at", "timestamp"),
        ),
        foreign_keys=(ForeignKey(("order_id",), "orders", ("id",)),),
    ),
)
CONTEXT_QUESTIONS = (
    "refund rate by region last quarter",
    "customers from France",
    "total order value by customer country",
    "open support tickets by priority",
    "how much did we spend on marketing campaigns per month",
)
SEARCH_QUESTIONS = tuple(
    f"{measure} {entity.replace('_', ' ')} by {by}"
    for measure in ("total", "number of", "average", "latest", "open")
    for entity in ENTITIES
    for by in ("month", "status", "country")
)


Scope = tuple[Actor, Registered]  # an organization and its connection


@dataclass
class Results:
    index: dict[str, float] = field(default_factory=dict)
    search: dict[str, float | str] = field(default_factory=dict)
    context: list[dict[str, float | int]] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)  # other work on the machine skews every time


class TimedEmbedder(Embedder):
    """The shared model, timing every call and keeping the last vectors it made."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner.model_name, inner.batch_size)
        self._model = inner._load()
        self.seconds = 0.0
        self.vectors: list[list[float]] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        started = time.perf_counter()
        vectors = super().embed(texts)
        self.seconds += time.perf_counter() - started
        self.vectors = vectors
        return vectors


def generated_schema(tables: int, columns: int = 10, seed: int = 11) -> Schema:
    """`tables` tables (refunds, orders, regions, customers among them) of `columns` columns."""
    rng = random.Random(seed)
    names = [f"{d}_{e}" for d in DOMAINS for e in ENTITIES]
    rng.shuffle(names)
    core = [_padded(t, columns) for t in CORE[: min(len(CORE), tables)]]
    filler = [_filler(name, columns, rng) for name in names[: tables - len(core)]]
    return Schema(tables=tuple(core + filler), dialect="sqlite")


def _padded(table: Table, columns: int) -> Table:
    extra = [c for c in COLUMNS if table.column(c[0]) is None][: columns - len(table.columns)]
    return Table(
        table.name, table.columns + tuple(_column(n, t) for n, t in extra), table.foreign_keys
    )


def _filler(name: str, columns: int, rng: random.Random) -> Table:
    picked = [_column(n, t) for n, t in rng.sample(COLUMNS, columns - 1)]
    return Table(name, (Column("id", "integer", primary_key=True), *picked))


def _column(name: str, type_: str) -> Column:
    return Column(name, type_, samples=SAMPLES.get(name, ()))


async def scratch_connection(runtime: Runtime, slug: str) -> Scope:
    """A new organization with one (SQLite) connection whose file is never opened."""
    organization_id = await accounts.create_organization(runtime.db, slug, slug)
    actor = Actor(organization_id)
    path = runtime.settings.data_dir / f"{slug}.db"
    await runtime.registry.add(actor, "scratch", ConnectionConfig(dialect="sqlite", path=str(path)))
    return actor, await runtime.registry.get(organization_id, "scratch")


async def bench_index(runtime: Runtime, embedder: TimedEmbedder, tables: int) -> tuple[dict, Scope]:
    schema = generated_schema(tables)
    documents = schema_documents(schema)
    actor, registered = await scratch_connection(runtime, "bench-index")

    started = time.perf_counter()
    async with runtime.db.transaction(actor.organization_id) as connection:
        report = await sync_documents(
            connection, actor.organization_id, registered.id, documents, embedder
        )
    total = time.perf_counter() - started

    return {
        "tables": len(schema.tables),
        "documents": len(documents),
        "embedded": report.embedded,
        "seconds": total,
        "embedding_seconds": embedder.seconds,
        "documents_per_second": len(documents) / total,
    }, (actor, registered)


async def bench_context(
    runtime: Runtime, embedder: TimedEmbedder, sizes: Sequence[int], indexed: dict[int, Scope]
) -> list[dict]:
    """Context per schema size; a size in `indexed` reuses that connection's documents."""
    rows = []
    for size in sizes:
        schema = generated_schema(size)
        scope = indexed.get(size) or await scratch_connection(runtime, f"bench-context-{size}")
        actor, registered = scope
        await runtime.registry.store_schema(actor, registered, schema)
        async with runtime.db.transaction(actor.organization_id) as connection:
            await sync_documents(
                connection, actor.organization_id, registered.id, schema_documents(schema), embedder
            )
        await runtime.pipeline.context_for(actor, registered, "warm-up")

        tokens, tables, seconds, loads = [], [], [], []
        for question in CONTEXT_QUESTIONS:
            started = time.perf_counter()
            context = await runtime.pipeline.context_for(actor, registered, question)
            seconds.append(time.perf_counter() - started)
            tokens.append(context.tokens)
            tables.append(len(context.schema.tables))
            started = time.perf_counter()
            await runtime.registry.cached_schema(actor.organization_id, registered.id)
            loads.append(time.perf_counter() - started)

        rows.append(
            {
                "schema_tables": size,
                "tokens_mean": statistics.mean(tokens),
                "tokens_max": max(tokens),
                "tables_mean": statistics.mean(tables),
                "ms_median": 1000 * statistics.median(seconds),
                "schema_ms_median": 1000 * statistics.median(loads),
            }
        )
    return rows


async def bench_search(
    runtime: Runtime, pool: np.ndarray, pool_documents: Sequence, organizations: int
) -> dict:
    rng = np.random.default_rng(5)
    connections = [
        await scratch_connection(runtime, f"bench-search-{i}") for i in range(organizations)
    ]
    started = time.perf_counter()
    rows = _bulk_load(runtime, connections, pool, pool_documents, rng)
    load_seconds = time.perf_counter() - started
    query_vectors = runtime.embedder.embed(list(SEARCH_QUESTIONS))

    picks = random.Random(3)
    for vector in query_vectors[:20]:  # warm the pool and the caches
        await _search(runtime, picks.choice(connections), vector)
    results: dict = {
        "organizations": organizations,
        "rows": rows,
        "load_and_index_seconds": load_seconds,
        "queries": QUERIES,
        "plan": await _plan(runtime, connections[0], query_vectors[0], force_hnsw=False),
        "hnsw_plan": await _plan(runtime, connections[0], query_vectors[0], force_hnsw=True),
    }
    results.update(await _measure(runtime, connections, query_vectors, picks, force_hnsw=False))
    # The planner answers a filter this selective with the btree and a sort (exact), so
    # the HNSW index is measured too, forced, as a connection with many documents uses it.
    forced = await _measure(runtime, connections, query_vectors, picks, force_hnsw=True)
    results.update({f"hnsw_{name}": value for name, value in forced.items()})
    return results


async def _measure(
    runtime: Runtime,
    connections: Sequence[Scope],
    query_vectors: Sequence[Sequence[float]],
    picks: random.Random,
    force_hnsw: bool,
) -> dict[str, float]:
    latencies, recalls = [], []
    for i in range(QUERIES):
        scope = picks.choice(connections)
        vector = query_vectors[i % len(query_vectors)]
        started = time.perf_counter()
        hits = await _search(runtime, scope, vector, force_hnsw)
        latencies.append(time.perf_counter() - started)
        exact = await _exact(runtime, scope, vector)
        recalls.append(len({(h.kind, h.ref) for h in hits} & exact) / max(1, len(exact)))
    latencies.sort()
    return {
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)],
        "max_ms": 1000 * latencies[-1],
        "recall_at_20": statistics.mean(recalls),
        "min_recall": min(recalls),
    }


def _bulk_load(
    runtime: Runtime,
    connections: Sequence[Scope],
    pool: np.ndarray,
    pool_documents: Sequence,
    rng: np.random.Generator,
) -> int:
    """COPY the rows as the superuser, then build the HNSW index once, as the migration does."""
    server = runtime.urls.embedded
    assert server is not None
    with psycopg.connect(server.url("postgres", embedded.APP_DATABASE), autocommit=True) as pg:
        register_vector(pg)
        [(definition,)] = pg.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'embeddings_vector_idx'"
        ).fetchall()
        pg.execute("DELETE FROM embeddings")
        pg.execute("DROP INDEX embeddings_vector_idx")
        with (
            pg.cursor() as cursor,
            cursor.copy(
                "COPY embeddings (organization_id, connection_id, kind, ref, content, content_hash,"
                " embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["uuid", "uuid", "text", "text", "text", "text", "vector"])
            for actor, registered in connections:
                chosen = rng.choice(len(pool), DOCUMENTS_PER_ORGANIZATION, replace=False)
                noisy = pool[chosen] + rng.normal(0, NOISE, (len(chosen), pool.shape[1]))
                noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
                for index, vector in zip(chosen, noisy, strict=True):
                    document = pool_documents[index]
                    copy.write_row(
                        (
                            actor.organization_id,
                            registered.id,
                            document.kind,
                            document.ref,
                            document.content,
                            document.content_hash,
                            vector.astype(np.float32),
                        )
                    )
        pg.execute("SET maintenance_work_mem = '1GB'")
        pg.execute(definition)
        pg.execute("ANALYZE embeddings")
        [(count,)] = pg.execute("SELECT count(*) FROM embeddings").fetchall()
    return count


async def _search(
    runtime: Runtime,
    scope: Scope,
    vector: Sequence[float],
    force_hnsw: bool = False,
):
    actor, registered = scope
    async with runtime.db.transaction(actor.organization_id) as connection:
        if force_hnsw:
            await execute(connection, "SET LOCAL enable_sort = off")
        return await search(connection, registered.id, vector, k=K)


async def _exact(runtime: Runtime, scope: Scope, vector: Sequence[float]) -> set[tuple[str, str]]:
    actor, registered = scope
    async with runtime.db.transaction(actor.organization_id) as connection:
        await execute(connection, "SET LOCAL enable_indexscan = off")
        rows = await fetch_all(
            connection,
            "SELECT kind, ref FROM embeddings WHERE connection_id = :c"
            " AND kind = ANY(:kinds) ORDER BY embedding <=> CAST(:v AS vector) LIMIT :k",
            {"c": registered.id, "kinds": ["table", "column"], "v": vector_literal(vector), "k": K},
        )
    return {(r["kind"], r["ref"]) for r in rows}


async def _plan(runtime: Runtime, scope: Scope, vector: Sequence[float], force_hnsw: bool) -> str:
    """The access path the planner picks for `search`, to tell an HNSW scan from a sort."""
    actor, registered = scope
    async with runtime.db.transaction(actor.organization_id) as connection:
        if force_hnsw:
            await execute(connection, "SET LOCAL enable_sort = off")
        await execute(connection, "SET LOCAL hnsw.iterative_scan = relaxed_order")
        await execute(connection, "SET LOCAL hnsw.ef_search = 100")
        rows = await fetch_all(
            connection,
            "EXPLAIN SELECT kind, ref FROM embeddings WHERE connection_id = :c"
            " AND kind = ANY(:kinds) ORDER BY embedding <=> CAST(:v AS vector) LIMIT :k",
            {"c": registered.id, "kinds": ["table", "column"], "v": vector_literal(vector), "k": K},
        )
    nodes = [r["QUERY PLAN"].strip().removeprefix("->").split("  (")[0].strip() for r in rows]
    return " → ".join(
        n
        for n in nodes
        if n and not n.startswith(("Filter", "Order By", "Index Cond", "Recheck", "Sort Key"))
    )


async def run(organizations: int, tables: int) -> Results:
    data_dir = Path(tempfile.mkdtemp(prefix="dana-bench-retrieval-"))
    settings = Settings(data_dir=data_dir, admin_password="bench", _env_file=None)
    runtime = Runtime.start(settings)
    try:
        upgrade(runtime.urls.owner)
        embedder = TimedEmbedder(get_embedder(settings.embedding_model))
        runtime.__dict__["embedder"] = embedder  # the pipeline uses the timed one too
        embedder.embed(["warm-up"])
        embedder.seconds = 0.0
        results = Results()
        load_at_start = os.getloadavg()[0]

        results.index, indexed = await bench_index(runtime, embedder, tables)
        # The vectors of the last call, in the order of the documents: the search's pool.
        pool = np.array(embedder.vectors, dtype=np.float32)
        pool_documents = schema_documents(generated_schema(tables))
        results.context = await bench_context(
            runtime, embedder, (10, 100, tables), {tables: indexed}
        )
        results.search = await bench_search(runtime, pool, pool_documents, organizations)
        results.load = (load_at_start, os.getloadavg()[0])
        return results
    finally:
        await runtime.close()
        embedded.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def summary_line(results: Results) -> str:
    s, i = results.search, results.index
    return (
        f"index {i['documents']} documents in {i['seconds']:.1f} s; search over {s['rows']} rows:"
        f" p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, recall@{K} {s['recall_at_20']:.3f}"
        f" (HNSW forced: p50 {s['hnsw_p50_ms']:.1f} ms, recall {s['hnsw_recall_at_20']:.3f});"
        " context tokens "
        + ", ".join(f"{c['schema_tables']}: {c['tokens_mean']:.0f}" for c in results.context)
    )


def markdown(results: Results) -> str:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    i, s = results.index, results.search
    lines = [
        f"## Retrieval ({stamp})",
        "",
        f"Embedded PostgreSQL with pgvector, all-MiniLM-L6-v2 on CPU, python "
        f"{platform.python_version()}.",
        "",
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| index {i['tables']} tables × 10 columns ({i['documents']} documents) "
        f"| {i['seconds']:.1f} s (embedding {i['embedding_seconds']:.1f} s, "
        f"{i['documents_per_second']:.0f} documents/s) | ≤ 60 s |",
        f"| search p50 over {s['rows']} rows of {s['organizations']} organizations "
        f"| {s['p50_ms']:.1f} ms | ≤ 20 ms |",
        f"| search p95 / max | {s['p95_ms']:.1f} / {s['max_ms']:.1f} ms | |",
        f"| recall@{K} against an exact scan ({s['queries']} queries) "
        f"| {s['recall_at_20']:.3f} (lowest {s['min_recall']:.2f}) | ≥ 0.95 |",
        f"| plan the planner picks | {s['plan']} | |",
        f"| HNSW forced (enable_sort off): p50 / p95 | {s['hnsw_p50_ms']:.1f} / "
        f"{s['hnsw_p95_ms']:.1f} ms | ≤ 20 ms |",
        f"| HNSW forced: recall@{K} | {s['hnsw_recall_at_20']:.3f} "
        f"(lowest {s['hnsw_min_recall']:.2f}) | ≥ 0.95 |",
        f"| HNSW forced: plan | {s['hnsw_plan']} | |",
        f"| bulk load and HNSW build | {s['load_and_index_seconds']:.1f} s | |",
        f"| load average (1 min) at start / end | {results.load[0]:.1f} / {results.load[1]:.1f} "
        f"on {os.cpu_count()} CPUs | |",
        "",
        f"Context for {len(CONTEXT_QUESTIONS)} questions, budget "
        "1500 tokens (target: flat as the schema grows):",
        "",
        "| schema tables | tokens (mean / max) | tables in context | context_for median"
        " | of which reading the cached schema |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {c['schema_tables']} | {c['tokens_mean']:.0f} / {c['tokens_max']} "
        f"| {c['tables_mean']:.1f} | {c['ms_median']:.0f} ms | {c['schema_ms_median']:.0f} ms |"
        for c in results.context
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--report", default=str(REPORT), help="markdown file to append to")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--organizations",
        type=int,
        default=100,
        help=f"organizations of {DOCUMENTS_PER_ORGANIZATION} documents each",
    )
    parser.add_argument("--tables", type=int, default=1_000, help="tables of the large schema")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    results = asyncio.run(run(args.organizations, args.tables))

    text = markdown(results)
    print(summary_line(results))
    print(text)
    if not args.no_write:
        with Path(args.report).open("a") as out:
            out.write(text + "\n\n")


if __name__ == "__main__":
    main()
