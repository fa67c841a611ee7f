"""Approved answers: a thumbs up keeps the question and its SQL; the same question reuses it."""

from __future__ import annotations

import uuid

from chainlit.types import Feedback

from dana.chat.data_layer import DanaDataLayer, chat_user_id
from dana.db.audit import Actor
from dana.db.session import fetch_all

UNITS_SQL = (
    "SELECT p.name, sum(oi.quantity) AS units FROM order_items oi"
    " JOIN products p ON p.id = oi.product_id GROUP BY p.name ORDER BY units DESC LIMIT 3"
)


async def test_an_approved_question_asked_again_reuses_its_sql(runtime, demo_actor):
    question = f"Which three products sold the most units, counting {uuid.uuid4().hex[:4]}?"
    await runtime.pipeline.approve(demo_actor, "demo", question, UNITS_SQL)

    answer = await runtime.pipeline.ask(demo_actor, "demo", question)

    assert answer.status == "ok", answer.message
    assert answer.translator == "approved example"
    assert len(answer.rows) == 3


async def test_thumbs_up_in_the_chat_stores_an_example(runtime, demo_actor):
    approved: list[tuple] = []

    async def keep(organization_id, user_id, connection, question, sql):
        approved.append((connection, question, sql))
        await runtime.pipeline.approve(Actor(organization_id, user_id), connection, question, sql)

    layer = DanaDataLayer(runtime.db, on_approved=keep)
    thread_id, answer_id = str(uuid.uuid4()), str(uuid.uuid4())
    question = f"Units by product, best three ({uuid.uuid4().hex[:6]})"
    await layer.update_thread(
        thread_id,
        name=question,
        user_id=chat_user_id(demo_actor.organization_id, demo_actor.user_id),
    )
    await layer.create_step(
        {"id": str(uuid.uuid4()), "threadId": thread_id, "type": "user_message", "output": question}
    )
    await layer.create_step(
        {
            "id": answer_id,
            "threadId": thread_id,
            "type": "assistant_message",
            "output": "3 rows.",
            "metadata": {"sql": UNITS_SQL, "connection": "demo"},
        }
    )

    await layer.upsert_feedback(Feedback(forId=answer_id, value=1, threadId=thread_id))

    assert approved == [("demo", question, UNITS_SQL)]
    async with runtime.db.transaction(demo_actor.organization_id) as connection:
        rows = await fetch_all(
            connection,
            "SELECT content, metadata ->> 'sql' AS sql FROM"
            " embeddings WHERE kind = 'example' AND content = :q",
            {"q": question},
        )
    assert rows == [{"content": question, "sql": UNITS_SQL}]


async def test_thumbs_down_stores_no_example(runtime, demo_actor):
    approved: list[tuple] = []

    async def keep(*args):
        approved.append(args)

    layer = DanaDataLayer(runtime.db, on_approved=keep)
    thread_id, answer_id = str(uuid.uuid4()), str(uuid.uuid4())
    await layer.update_thread(
        thread_id, name="q", user_id=chat_user_id(demo_actor.organization_id, demo_actor.user_id)
    )
    await layer.create_step(
        {
            "id": str(uuid.uuid4()),
            "threadId": thread_id,
            "type": "user_message",
            "output": "How many orders?",
        }
    )
    await layer.create_step(
        {
            "id": answer_id,
            "threadId": thread_id,
            "type": "assistant_message",
            "output": "1 row.",
            "metadata": {"sql": "SELECT 1", "connection": "demo"},
        }
    )

    await layer.upsert_feedback(Feedback(forId=answer_id, value=0, threadId=thread_id))

    assert approved == []
