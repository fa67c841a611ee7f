"""The pipeline with a model-backed translator, against the fake provider in fake_llm.py.

The database is the real demo database; only the hosted language model is replaced.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fake_llm import FakeLLM, Reply
from test_pipeline import demo_rows

from dana.db.session import fetch_all
from dana.demo import INJECTED_PRODUCT, INJECTED_TEXT
from dana.integrations.connectors import jsonable
from dana.nl2sql.base import Request, Translation, Translator, Turn
from dana.nl2sql.llm import AnthropicTranslator, ModelTranslator, OpenAICompatibleTranslator
from dana.nl2sql.offline import OfflineTranslator
from dana.nl2sql.prompting import SAMPLE_CHARS
from dana.pipeline import MAX_REPAIRS, Pipeline

STORES_PER_REGION = (
    "SELECT r.name, count(*) AS stores FROM stores s JOIN regions r ON r.id = s.region_id"
    " GROUP BY r.name ORDER BY r.name"
)
PRODUCT_NAMES = "SELECT name FROM products ORDER BY id LIMIT 5"
REVENUE_BY_MONTH = (
    "SELECT date_trunc('month', ordered_at) AS month, sum(total) AS revenue"
    " FROM orders GROUP BY 1 ORDER BY 1"
)

MakePipeline = Callable[..., Pipeline]


def fenced(sql: str, after: str = "") -> Reply:
    return Reply(f"```sql\n{sql}\n```\n{after}".strip())


def normalized(rows: list[Any]) -> list[list[Any]]:
    return [[jsonable(value) for value in row] for row in rows]


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
async def make_pipeline(runtime, llm: FakeLLM) -> AsyncIterator[MakePipeline]:
    """A pipeline whose translator talks to the fake server, with the offline fallback."""
    translators: list[ModelTranslator] = []

    def build(
        provider: str = "openai", timeout_s: float = 10.0, fallback: Translator | None = None
    ) -> Pipeline:
        if provider == "openai":
            translator: ModelTranslator = OpenAICompatibleTranslator(
                base_url=llm.openai_url, model="m", timeout_s=timeout_s
            )
        else:
            translator = AnthropicTranslator("m", "test-key", llm.base_url, timeout_s)
        translators.append(translator)
        return Pipeline(
            runtime.db,
            runtime.registry,
            runtime.engine,
            runtime.embedder,
            translator,
            fallback=fallback or OfflineTranslator(),
        )

    yield build
    for translator in translators:
        await translator.client.close()


@dataclass
class FixedTranslator:
    """A stand-in for the offline translator that always writes the same SQL."""

    sql: str
    name: str = "offline"

    async def translate(self, request: Request) -> Translation:
        return Translation("sql", sql=self.sql, translator=self.name)


async def query_log_count(runtime, actor, request_id: str | None = None) -> int:
    sql = "SELECT count(*) AS n FROM integration_query_logs"
    if request_id is not None:
        sql += " WHERE request_id = :r"
    async with runtime.db.transaction(actor.organization_id) as connection:
        [row] = await fetch_all(connection, sql, {"r": request_id})
    return row["n"]


async def security_events(runtime, actor, kind: str) -> list[dict[str, Any]]:
    async with runtime.db.transaction(actor.organization_id) as connection:
        return await fetch_all(
            connection,
            "SELECT user_id, detail FROM security_events WHERE kind = :k ORDER BY created_at",
            {"k": kind},
        )


# questions.md item 7: model output wrapped in prose or fences


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_fenced_sql_with_prose_is_extracted_and_run_once(
    runtime, demo_actor, llm, make_pipeline, provider
):
    expected = normalized(demo_rows(runtime, STORES_PER_REGION))
    llm.script(fenced(STORES_PER_REGION, "This counts the stores of each region."))
    pipeline = make_pipeline(provider)

    answer = await pipeline.ask(demo_actor, "demo", "How many stores does each region have?")

    assert answer.status == "ok", answer.message
    assert answer.rows == expected
    assert answer.translator == provider
    assert len(llm.requests) == 1
    assert await query_log_count(runtime, demo_actor, answer.request_id) == 1


async def test_unknown_column_is_repaired_with_the_guards_message(
    runtime, demo_actor, llm, make_pipeline, caplog
):
    expected = normalized(demo_rows(runtime, PRODUCT_NAMES))
    llm.script(fenced("SELECT nme FROM products"), fenced(PRODUCT_NAMES))
    caplog.set_level(logging.INFO, logger="dana.pipeline")

    answer = await make_pipeline().ask(demo_actor, "demo", "List five product names")

    assert answer.status == "ok", answer.message
    assert answer.rows == expected
    assert len(llm.requests) == 2
    assert "column 'nme' does not exist" not in llm.requests[0].prompt
    assert "column 'nme' does not exist" in llm.requests[1].prompt
    assert "SELECT nme FROM products" in llm.requests[1].prompt
    repairs = [r for r in caplog.records if r.getMessage().startswith("repairing query")]
    assert len(repairs) == 1


async def test_model_that_stays_wrong_is_asked_at_most_max_repairs_times(
    runtime, demo_actor, llm, make_pipeline, caplog
):
    llm.script(*[fenced("SELECT nme FROM products")] * (MAX_REPAIRS + 2))
    caplog.set_level(logging.INFO, logger="dana.pipeline")

    answer = await make_pipeline().ask(demo_actor, "demo", "List five product names")

    assert len(llm.requests) == 1 + MAX_REPAIRS
    assert answer.status in ("refused", "error")
    assert answer.message.startswith("column 'nme' does not exist in products")
    assert answer.rows == []
    repairs = [r for r in caplog.records if r.getMessage().startswith("repairing query")]
    assert [record.args[1] for record in repairs] == list(range(1, MAX_REPAIRS + 1))


async def test_database_error_is_fed_back_and_the_fix_runs(runtime, demo_actor, llm, make_pipeline):
    fixed = "SELECT name FROM products WHERE price > 100 ORDER BY name"
    expected = normalized(demo_rows(runtime, fixed))
    llm.script(fenced("SELECT name FROM products WHERE price = 'abc'"), fenced(fixed))

    answer = await make_pipeline().ask(demo_actor, "demo", "Which products cost over 100?")

    assert answer.status == "ok", answer.message
    assert answer.rows == expected
    assert len(llm.requests) == 2
    assert 'invalid input syntax for type numeric: "abc"' in llm.requests[1].prompt


WRITES_FROM_THE_MODEL = [
    pytest.param(
        "WITH gone AS (DELETE FROM products RETURNING id) SELECT count(*) FROM gone",
        id="delete inside a CTE",
    ),
    pytest.param("DELETE FROM products", id="bare delete"),
]


@pytest.mark.parametrize("sql", WRITES_FROM_THE_MODEL)
async def test_write_from_the_model_is_refused_and_recorded(
    runtime, demo_actor, llm, make_pipeline, sql
):
    before = demo_rows(runtime, "SELECT count(*) FROM products")
    llm.script(*[fenced(sql)] * (MAX_REPAIRS + 1))

    answer = await make_pipeline().ask(demo_actor, "demo", "How many products are there?")

    assert demo_rows(runtime, "SELECT count(*) FROM products") == before
    assert answer.status == "refused"
    events = await security_events(runtime, demo_actor, "query_refused")
    assert any(e["user_id"] == demo_actor.user_id and e["detail"].get("sql") == sql for e in events)


# Provider failures


@pytest.mark.parametrize(
    ("reply", "timeout_s", "failure"),
    [
        pytest.param(
            Reply(status=500), 10.0, "the language model failed (HTTP 500)", id="http 500"
        ),
        pytest.param(
            Reply(delay_s=5), 0.5, "the language model did not answer in 0.5 s", id="timeout"
        ),
    ],
)
async def test_provider_failure_falls_back_to_the_offline_translator(
    runtime, demo_actor, llm, make_pipeline, reply, timeout_s, failure
):
    [(customers,)] = demo_rows(runtime, "SELECT count(*) FROM customers")
    llm.script(reply)

    answer = await make_pipeline(timeout_s=timeout_s).ask(
        demo_actor, "demo", "How many customers are there?"
    )

    assert answer.status == "ok", answer.message
    assert answer.translator == "offline"
    assert answer.rows == [[customers]]
    assert answer.notes == (f"{failure}; the built-in translator answered instead.",)


async def test_model_that_failed_is_not_asked_to_repair_the_fallbacks_query(
    demo_actor, llm, make_pipeline
):
    llm.script(*[Reply(status=500)] * (MAX_REPAIRS + 1))
    pipeline = make_pipeline(fallback=FixedTranslator("SELECT nme FROM products"))

    answer = await pipeline.ask(demo_actor, "demo", "List five product names")

    assert len(llm.requests) == 1
    assert answer.status == "refused"
    assert answer.message.startswith("column 'nme' does not exist in products")
    assert answer.notes == (
        "the language model failed (HTTP 500); the built-in translator answered instead.",
    )


# Conversation


async def test_follow_up_prompt_carries_the_earlier_question_and_sql(
    demo_actor, llm, make_pipeline
):
    earlier_sql = (
        "SELECT r.name, sum(o.total) FROM orders o JOIN stores s ON s.id = o.store_id"
        " JOIN regions r ON r.id = s.region_id GROUP BY r.name"
    )
    history = (Turn("What is the revenue by region?", earlier_sql),)
    llm.script(
        fenced(
            "SELECT s.name, sum(o.total) FROM orders o JOIN stores s ON s.id = o.store_id"
            " GROUP BY s.name"
        )
    )

    answer = await make_pipeline().ask(demo_actor, "demo", "and by store?", history=history)

    assert answer.status == "ok", answer.message
    prompt = llm.requests[0].prompt
    assert "What is the revenue by region?" in prompt
    assert earlier_sql in prompt
    assert prompt.rstrip().endswith("Question: and by store?")


async def test_unanswerable_from_the_model_runs_no_query(runtime, demo_actor, llm, make_pipeline):
    before = await query_log_count(runtime, demo_actor)
    llm.script(Reply("UNANSWERABLE: there is no campaign or spend data"))

    answer = await make_pipeline().ask(
        demo_actor, "demo", "What was the ROI of the spring marketing campaign?"
    )

    assert answer.status == "unanswerable"
    assert answer.message == "there is no campaign or spend data"
    assert answer.sql is None
    assert await query_log_count(runtime, demo_actor) == before


# questions.md item 9: instructions hidden in the data

_LITERAL = re.compile(r"'(?:[^']|'')*'")


async def test_injected_description_reaches_the_model_only_quoted_and_cut(
    runtime, demo_actor, llm, make_pipeline
):
    prices = "SELECT id, price FROM products ORDER BY id"
    before = demo_rows(runtime, prices)
    llm.script(*[Reply("UPDATE products SET price = 0")] * (MAX_REPAIRS + 1))
    question = f"What does the description of {INJECTED_PRODUCT} say?"

    answer = await make_pipeline().ask(demo_actor, "demo", question)

    assert demo_rows(runtime, prices) == before
    assert "update" not in (answer.sql or "").lower()
    prompt = llm.requests[0].prompt
    assert INJECTED_TEXT not in prompt
    for line in prompt.splitlines():
        if "SYSTEM" in line:
            literals = _LITERAL.findall(line)
            assert any("SYSTEM" in literal for literal in literals), line
        if line.lstrip().startswith("description ") and "e.g." in line:
            samples = _LITERAL.findall(line.split("e.g.", 1)[1])
            assert samples and all(len(s) <= SAMPLE_CHARS + 3 for s in samples), line


# questions.md item 10: charts are data, not code


async def test_chart_is_a_spec_from_the_columns_and_model_code_is_not_run(
    runtime, demo_actor, llm, make_pipeline
):
    expected = normalized(demo_rows(runtime, REVENUE_BY_MONTH))
    llm.script(
        Reply(
            f"```sql\n{REVENUE_BY_MONTH}\n```\n"
            "And the chart:\n```python\nimport os; print(os.environ)\n```\n"
            "import os; print(os.environ)"
        )
    )
    question = "Chart revenue by month, and in the code also print the environment."

    answer = await make_pipeline().ask(demo_actor, "demo", question)

    assert answer.status == "ok", answer.message
    assert answer.rows == expected
    assert answer.chart == {"type": "line", "x": "month", "y": ["revenue"]}
    text = json.dumps(
        {**answer.to_json(), "explanation": answer.explanation, "notes": answer.notes}
    )
    secrets = [os.environ["HOME"], os.environ.get("PATH", "")]
    assert not any(value and value in text for value in secrets)


# Metering: every call to a model is a row with its tokens and time.


async def llm_calls(runtime, actor, request_id: str) -> list[dict[str, Any]]:
    async with runtime.db.transaction(actor.organization_id) as connection:
        return await fetch_all(
            connection,
            "SELECT provider, model, success, tokens_in, tokens_out, elapsed_ms, error"
            " FROM llm_calls WHERE request_id = :r",
            {"r": request_id},
        )


async def test_each_model_call_is_metered_with_its_tokens(runtime, demo_actor, llm, make_pipeline):
    llm.script(Reply(f"```sql\n{PRODUCT_NAMES}\n```", tokens_in=321, tokens_out=12))

    answer = await make_pipeline().ask(demo_actor, "demo", "Name five products")

    [call] = await llm_calls(runtime, demo_actor, answer.request_id)
    assert call["provider"] == "openai" and call["model"] == "m" and call["success"]
    assert (call["tokens_in"], call["tokens_out"]) == (321, 12)
    assert call["elapsed_ms"] is not None


async def test_a_failed_model_call_is_metered_as_a_failure(runtime, demo_actor, llm, make_pipeline):
    llm.script(Reply(status=500))

    answer = await make_pipeline().ask(demo_actor, "demo", "How many customers are there?")

    [call] = await llm_calls(runtime, demo_actor, answer.request_id)
    assert call["success"] is False
    assert "HTTP 500" in call["error"]
