"""The path of one question: retrieve, translate, guard, execute, answer.

Shared by the chat, the CLI, the API and workflows, so they all answer alike.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from dana.charts import choose_chart
from dana.db.audit import Actor, security_event
from dana.db.session import Database, execute
from dana.errors import DanaError, QueryRefused, TranslationFailed
from dana.integrations.connectors import jsonable
from dana.integrations.engine import Engine, RunContext
from dana.integrations.registry import Registered, Registry
from dana.nl2sql.base import Request, Translation, Translator, Turn
from dana.retrieval.catalog import answer_catalog_question
from dana.retrieval.context import assemble
from dana.retrieval.documents import glossary_document, schema_documents
from dana.retrieval.embedder import Embedder
from dana.retrieval.examples import SAME_QUESTION, Example, find_examples, store_example
from dana.retrieval.glossary import Term, expand_terms, with_virtual_columns
from dana.retrieval.store import search, sync_documents
from dana.schema import Context, Schema
from dana.sql.guard import validate

log = logging.getLogger(__name__)

MAX_REPAIRS = 2

# Guard rules whose refusal means someone tried to do more than read.
DANGEROUS_RULES = {
    "require_single_statement",
    "require_read_statement",
    "reject_writes",
    "reject_into",
    "reject_locking",
    "reject_commands",
    "allow_functions",
    "reject_variables",
    "reject_executable_comments",
}


@dataclass(frozen=True)
class Answer:
    """What a question comes back as, whichever way it was asked."""

    status: str  # "ok", "refused", "unanswerable", "clarify" or "error"
    message: str
    sql: str | None = None
    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    truncated: bool = False
    elapsed_ms: float = 0.0
    chart: dict[str, Any] | None = None
    explanation: str = ""
    request_id: str = ""
    connection: str = ""
    translator: str = ""
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "sql": self.sql,
            "columns": self.columns,
            "rows": self.rows,
            "row_count": len(self.rows),
            "truncated": self.truncated,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "chart": self.chart,
            "request_id": self.request_id,
            "connection": self.connection,
        }


# Imperatives that ask DANA to change data or structure. DANA only reads, so such a
# request is refused before any translation, whatever else the sentence says. Verbs that
# only ever mean a change count after "and"/"then" too; softer verbs ("set", "add") only
# when they open a sentence, so that "revenue and change over time" stays a question.
_STRONG_WRITE_VERBS = "delete|drop|remove|truncate|update|insert|alter|wipe|erase|destroy|purge"
_SOFT_WRITE_VERBS = (
    "add|set|change|modify|replace|create|reset|clear|empty|rename|grant|revoke|overwrite"
)
_WRITE_REQUEST = re.compile(
    rf"(?:^|[.;:!]\s*|\b(?:and|then|please|now|also)\s+)(?:please\s+)?(?:{_STRONG_WRITE_VERBS})\b"
    rf"|(?:^|[.;:!]\s*)(?:please\s+)?(?:{_SOFT_WRITE_VERBS})\b",
    re.IGNORECASE,
)
_OVERRIDE = re.compile(
    r"\b(?:ignore|forget|disregard|bypass)\b.{0,40}\b(?:rules|instructions|guard|restrictions|prompt)\b",
    re.IGNORECASE,
)


def asks_to_write(question: str) -> bool:
    """True for requests such as "remove the employees table" or "set all prices to 0"."""
    text = question.strip()
    if _OVERRIDE.search(text):
        return True
    return bool(_WRITE_REQUEST.search(text))


class Pipeline:
    def __init__(
        self,
        db: Database,
        registry: Registry,
        engine: Engine,
        embedder: Embedder,
        translator: Translator,
        fallback: Translator | None = None,
        token_budget: int = 1500,
    ) -> None:
        self.db = db
        self.registry = registry
        self.engine = engine
        self.embedder = embedder
        self.translator = translator
        self.fallback = fallback
        self.token_budget = token_budget

    async def refresh_schema(self, actor: Actor, registered: Registered) -> Schema:
        """Introspect the connection, cache its schema, and embed what changed."""
        schema = await self.engine.connector(registered).introspect()
        await self.registry.store_schema(actor, registered, schema)
        async with self.db.transaction(actor.organization_id) as connection:
            await sync_documents(
                connection,
                actor.organization_id,
                registered.id,
                schema_documents(schema),
                self.embedder,
            )
        await self._embed_glossary(actor, registered)
        return schema

    async def define_term(
        self, actor: Actor, connection_name: str, term: str, sql: str, definition: str = ""
    ) -> None:
        """Define a business term for a connection, and embed it for retrieval."""
        await self.registry.define_term(actor, connection_name, term, sql, definition)
        registered = await self.registry.get(actor.organization_id, connection_name)
        await self._embed_glossary(actor, registered)

    async def _embed_glossary(self, actor: Actor, registered: Registered) -> None:
        terms = await self.registry.glossary(actor.organization_id, registered.id)
        documents = [glossary_document(t.term, t.definition, t.sql) for t in terms]
        async with self.db.transaction(actor.organization_id) as connection:
            await sync_documents(
                connection,
                actor.organization_id,
                registered.id,
                documents,
                self.embedder,
                kinds=("glossary",),
            )

    async def schema_of(self, actor: Actor, registered: Registered) -> Schema:
        schema = await self.registry.cached_schema(actor.organization_id, registered.id)
        return schema if schema is not None else await self.refresh_schema(actor, registered)

    async def context_for(self, actor: Actor, registered: Registered, question: str) -> Context:
        schema = await self.schema_of(actor, registered)
        context, _examples, _terms = await self._retrieve(actor, registered, schema, question)
        return context

    async def _retrieve(
        self, actor: Actor, registered: Registered, schema: Schema, question: str
    ) -> tuple[Context, list[Example], list[Term]]:
        terms = await self.registry.glossary(actor.organization_id, registered.id)
        [vector] = await self.embedder.aembed([question])
        async with self.db.transaction(actor.organization_id) as connection:
            hits = await search(connection, registered.id, vector, k=30)
            examples = await find_examples(connection, registered.id, vector)
        context = assemble(
            question,
            schema,
            hits,
            self.token_budget,
            examples=[(e.question, e.sql) for e in examples],
        )
        if terms:
            context = dataclasses.replace(
                context,
                schema=with_virtual_columns(context.schema, terms, registered.dialect),
                glossary=tuple((t.term, t.sql) for t in terms),
            )
        return context, examples, terms

    async def approve(self, actor: Actor, connection_name: str, question: str, sql: str) -> None:
        """Keep an answer a user approved, as an example for later questions."""
        registered = await self.registry.get(actor.organization_id, connection_name)
        [vector] = await self.embedder.aembed([question])
        async with self.db.transaction(actor.organization_id) as connection:
            await store_example(
                connection, actor.organization_id, registered.id, question, sql, vector
            )

    async def ask(
        self,
        actor: Actor,
        connection_name: str,
        question: str,
        history: tuple[Turn, ...] = (),
        conversation_id: UUID | None = None,
    ) -> Answer:
        request_id = uuid.uuid4().hex[:12]
        started = time.perf_counter()
        try:
            answer = await self._ask(
                actor,
                connection_name,
                question,
                history,
                RunContext(actor, request_id, conversation_id),
            )
        except DanaError as error:
            log.info("question %s failed: %s", request_id, error.detail)
            answer = Answer(status=error.status, message=error.message)
        except Exception:
            log.exception("question %s failed unexpectedly", request_id)
            answer = Answer(
                status="error",
                message=f"Something went wrong on our side (reference {request_id}).",
            )
        elapsed = (time.perf_counter() - started) * 1000
        log.info(
            "question %s connection=%s status=%s rows=%d ms=%.0f",
            request_id,
            connection_name,
            answer.status,
            len(answer.rows),
            elapsed,
        )
        return _replace(
            answer,
            request_id=request_id,
            connection=connection_name,
            elapsed_ms=answer.elapsed_ms or elapsed,
        )

    async def run_sql(self, actor: Actor, connection_name: str, sql: str) -> Answer:
        """Run SQL a person wrote, through the same guard and engine as a translated question."""
        request_id = uuid.uuid4().hex[:12]
        try:
            registered = await self.registry.get(actor.organization_id, connection_name)
            schema = await self.schema_of(actor, registered)
            validation = validate(sql, registered.dialect, schema, max_rows=self.engine.max_rows)
            if not validation.allowed:
                await self._guard_refused(actor, validation, sql)
                return Answer(
                    status="refused",
                    message=validation.message,
                    sql=sql,
                    request_id=request_id,
                    connection=connection_name,
                )
            assert validation.sql is not None
            result = await self.engine.run(
                registered, validation.sql, RunContext(actor, request_id)
            )
        except DanaError as error:
            return Answer(
                status=error.status,
                message=error.message,
                sql=sql,
                request_id=request_id,
                connection=connection_name,
            )
        answer = _answer(validation.sql, result, Translation(kind="sql", sql=sql), [])
        return _replace(answer, request_id=request_id, connection=connection_name)

    async def _ask(
        self,
        actor: Actor,
        connection_name: str,
        question: str,
        history: tuple[Turn, ...],
        run: RunContext,
    ) -> Answer:
        if not question.strip():
            return Answer(status="unanswerable", message="Please type a question.")
        registered = await self.registry.get(actor.organization_id, connection_name)
        if asks_to_write(question):
            await self._refused(actor, "write_request", {"question": question})
            return Answer(
                status="refused",
                message="DANA only reads data: it does not change, add or remove anything. "
                "Ask a question about the data instead.",
            )
        schema = await self.schema_of(actor, registered)
        catalog = answer_catalog_question(question, schema)
        if catalog is not None:
            return Answer(
                status="ok",
                message=catalog.message,
                columns=catalog.columns,
                rows=catalog.rows,
                explanation="answered from the cached catalog",
            )
        # A follow-up ("and by region?") needs the tables of the questions it continues.
        searched = " ".join([t.question for t in history[-2:]] + [question])
        context, examples, terms = await self._retrieve(actor, registered, schema, searched)
        request = Request(
            question=question,
            context=context,
            dialect=registered.dialect,
            server_version=registered.server_version,
            history=history,
        )
        same = [e for e in examples if e.score >= SAME_QUESTION]
        if same and not history:
            # The question was asked and approved before: its SQL, checked again, answers it.
            reuse = Translation(
                kind="sql",
                sql=same[0].sql,
                confidence=same[0].score,
                explanation=f"an approved answer to: {same[0].question}",
                translator="approved example",
            )
            return await self._translate_and_run(
                actor, registered, request, run, schema, terms, first=reuse
            )
        return await self._translate_and_run(actor, registered, request, run, schema, terms)

    async def _translate_and_run(
        self,
        actor: Actor,
        registered: Registered,
        request: Request,
        run: RunContext,
        schema: Schema,
        terms: list[Term],
        first: Translation | None = None,
    ) -> Answer:
        notes: list[str] = []
        translation = first or await self._translate(request, notes, run)
        for attempt in range(MAX_REPAIRS + 1):
            if translation.kind != "sql" or not translation.sql:
                status = "clarify" if translation.kind == "clarify" else "unanswerable"
                return Answer(
                    status=status,
                    message=translation.explanation,
                    notes=tuple(notes),
                    translator=translation.translator,
                )
            sql = expand_terms(translation.sql, registered.dialect, terms, schema)
            validation = validate(sql, registered.dialect, schema, max_rows=self.engine.max_rows)
            problem: str | None = None
            if not validation.allowed:
                problem = validation.message
                await self._guard_refused(actor, validation, translation.sql)
            else:
                assert validation.sql is not None
                try:
                    result = await self.engine.run(registered, validation.sql, run)
                except QueryRefused as error:
                    await self._refused(actor, "query_refused", {"sql": validation.sql})
                    problem = error.message
                except DanaError as error:
                    if attempt == MAX_REPAIRS or not self._can_repair(translation):
                        return Answer(
                            status=error.status,
                            message=error.message,
                            sql=validation.sql,
                            notes=tuple(notes),
                            translator=translation.translator,
                        )
                    problem = error.message
                else:
                    return _answer(validation.sql, result, translation, notes)
            if attempt == MAX_REPAIRS or not self._can_repair(translation):
                return Answer(
                    status="refused",
                    message=problem or "the query was refused",
                    sql=translation.sql,
                    notes=tuple(notes),
                )
            log.info("repairing query %s (try %d): %s", run.request_id, attempt + 1, problem)
            request = _with_feedback(request, translation.sql, problem or "")
            translation = await self._translate(request, notes, run)
        raise AssertionError("unreachable")

    def _can_repair(self, translation: Translation) -> bool:
        # The offline translator is deterministic: asking it again gives the same SQL. And when
        # the fallback wrote the SQL, the model just failed: asking it again would only make
        # the user wait for another timeout.
        return self.translator.name != "offline" and translation.translator == self.translator.name

    async def _translate(self, request: Request, notes: list[str], run: RunContext) -> Translation:
        try:
            translation = await self.translator.translate(request)
        except TranslationFailed as error:
            await self._meter_model_call(run, None, error)
            if self.fallback is None:
                raise
            notes.append(f"{error.message}; the built-in translator answered instead.")
            return await self.fallback.translate(request)
        await self._meter_model_call(run, translation, None)
        return translation

    async def _meter_model_call(
        self, run: RunContext, translation: Translation | None, error: DanaError | None
    ) -> None:
        """One row per call to a language model: tokens and time, for usage and cost."""
        if self.translator.name == "offline":
            return
        usage = _usage_of(translation.notes if translation else ())
        last = getattr(self.translator, "last_usage", None)
        async with self.db.transaction(run.actor.organization_id) as connection:
            await execute(
                connection,
                "INSERT INTO llm_calls (organization_id, user_id, request_id, provider, model,"
                " success, tokens_in, tokens_out, elapsed_ms, error) VALUES (:org, :user, :req,"
                " :provider, :model, :ok, :tin, :tout, :ms, :error)",
                {
                    "org": run.actor.organization_id,
                    "user": run.actor.user_id,
                    "req": run.request_id,
                    "provider": self.translator.name,
                    "model": usage.get("model") or getattr(self.translator, "model", ""),
                    "ok": error is None,
                    "tin": _int_or_none(usage.get("tokens_in")),
                    "tout": _int_or_none(usage.get("tokens_out")),
                    "ms": _int_or_none(usage.get("elapsed_ms"))
                    or (last.elapsed_ms if error is not None and last else None),
                    "error": error.message if error else None,
                },
            )

    async def _guard_refused(self, actor: Actor, validation: Any, sql: str) -> None:
        """A security event when the guard stopped something dangerous; a misspelt column
        from a model is a mistake to repair, not an attack."""
        rules = {p.rule for p in validation.problems}
        if rules & DANGEROUS_RULES:
            await self._refused(
                actor,
                "query_refused",
                {"sql": sql, "problems": validation.message, "rules": sorted(rules)},
            )

    async def _refused(self, actor: Actor, kind: str, detail: dict[str, Any]) -> None:
        async with self.db.transaction(actor.organization_id) as connection:
            await security_event(connection, actor, kind, "medium", detail)


_RELATIVE_DATE = re.compile(r"\b(current_date|current_timestamp|now\(|curdate\(|'now')", re.I)


def _usage_of(notes: tuple[str, ...]) -> dict[str, str]:
    """The `key=value` usage notes a model translator adds to its translation."""
    return dict(n.split("=", 1) for n in notes if "=" in n and " " not in n.split("=", 1)[0])


def _int_or_none(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _with_feedback(request: Request, sql: str | None, problem: str) -> Request:
    feedback = request.feedback + (f"The SQL `{sql}` failed: {problem}",)
    return Request(
        request.question,
        request.context,
        request.dialect,
        request.server_version,
        request.history,
        feedback,
    )


def _answer(sql: str, result: Any, translation: Translation, notes: list[str]) -> Answer:
    rows = [[jsonable(v) for v in row] for row in result.rows]
    count = len(rows)
    if count == 0:
        message = "The query ran and returned no rows."
        if _RELATIVE_DATE.search(sql):
            message += (
                f" It looks at dates relative to today ({datetime.date.today():%Y-%m-%d});"
                " the data may end earlier: try naming a year."
            )
    elif result.truncated:
        message = f"Showing the first {count} rows."
    else:
        message = f"{count} row{'s' if count != 1 else ''}."
    return Answer(
        status="ok",
        message=message,
        sql=sql,
        columns=list(result.columns),
        types=list(result.types),
        rows=rows,
        truncated=result.truncated,
        elapsed_ms=result.elapsed_ms,
        chart=choose_chart(list(result.columns), list(result.types), rows),
        explanation=translation.explanation,
        translator=translation.translator,
        notes=tuple(notes),
    )


def _replace(answer: Answer, **changes: Any) -> Answer:
    from dataclasses import replace

    return replace(answer, **changes)
