"""`dana eval spider`: every question through the whole pipeline, scored by execution."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dana.db import accounts
from dana.db.audit import Actor
from dana.errors import NotFound
from dana.integrations.urls import ConnectionConfig
from dana.nl2sql.spider import Report, evaluate, load_questions


@dataclass
class SpiderResult:
    report: Report

    def summary(self) -> dict[str, Any]:
        r = self.report
        return {
            "questions": r.overall.total,
            "execution_accuracy": round(r.execution_accuracy, 4),
            "answered_precision": round(r.answered_precision, 4),
            "coverage": round(r.coverage, 4),
            "median_seconds": round(r.median_seconds, 4),
            "per_database": {
                db: {
                    "questions": s.total,
                    "execution_accuracy": round(s.execution_accuracy, 4),
                    "answered_precision": round(s.answered_precision, 4),
                    "coverage": round(s.coverage, 4),
                }
                for db, s in sorted(r.per_database.items())
            },
        }

    def render(self) -> str:
        return self.report.to_markdown()


async def _organization(runtime: Any, slug: str) -> Actor:
    organization_id = await accounts.find_organization(runtime.db, slug)
    if organization_id is None:
        organization_id = await accounts.create_organization(runtime.db, slug, slug, "enterprise")
    return Actor(organization_id)


async def _register(runtime: Any, actor: Actor, db_id: str, path: str) -> str:
    name = f"spider-{db_id}"
    config = ConnectionConfig(dialect="sqlite", path=path)
    try:
        registered = await runtime.registry.get(actor.organization_id, name)
    except NotFound:
        await runtime.registry.add(actor, name, config)
        registered = await runtime.registry.get(actor.organization_id, name)
    else:
        if registered.config.path != path:
            await runtime.registry.update_config(actor, name, config)
            registered = await runtime.registry.get(actor.organization_id, name)
    await runtime.pipeline.refresh_schema(actor, registered)
    return name


async def run_spider_eval(
    runtime: Any, folder: str, limit: int | None, slug: str, report_path: str | None
) -> SpiderResult:
    root = Path(folder).resolve()
    if not (root / "database").is_dir():
        raise NotFound(f"{folder} has no database/ folder in Spider's layout")
    # The benchmark's SQLite files may live anywhere: allow this folder for this run only.
    runtime.registry.allowed_sqlite_dirs.append(str(root))
    runtime.engine.allowed_sqlite_dirs = runtime.registry.allowed_sqlite_dirs
    actor = await _organization(runtime, slug)
    questions = load_questions(root)[:limit]
    names: dict[str, str] = {}
    for question in questions:
        if question.db_id not in names:
            names[question.db_id] = await _register(
                runtime, actor, question.db_id, str(Path(question.db_path).resolve())
            )
    loop = asyncio.get_running_loop()

    def answer(db_id: str, db_path: str, question: str) -> tuple[str, str | None, list | None]:
        future = asyncio.run_coroutine_threadsafe(
            runtime.pipeline.ask(actor, names[db_id], question), loop
        )
        result = future.result()
        rows = [tuple(r) for r in result.rows] if result.status == "ok" else None
        return result.status, result.sql, rows

    report = await asyncio.to_thread(evaluate, root, answer, limit)
    if report_path:
        with open(report_path, "w") as out:
            for o in report.outcomes:
                out.write(
                    json.dumps(
                        {
                            "db_id": o.db_id,
                            "question": o.question,
                            "gold": o.gold,
                            "status": o.status,
                            "sql": o.sql,
                            "correct": o.correct,
                            "seconds": round(o.seconds, 4),
                        }
                    )
                    + "\n"
                )
    return SpiderResult(report)
