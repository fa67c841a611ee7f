"""Chainlit's calls land in DANA's tables: only a question starts a conversation."""

from __future__ import annotations

import uuid

from chainlit.context import init_http_context
from chainlit.user import PersistedUser

from dana.chat.data_layer import DanaDataLayer, chat_user_id


async def test_opening_the_chat_starts_no_conversation_but_a_question_does(runtime, demo_actor):
    layer = DanaDataLayer(runtime.db)
    user = PersistedUser(
        id=chat_user_id(demo_actor.organization_id, demo_actor.user_id),
        identifier="admin@example.com",
        createdAt="",
        metadata={
            "organization_id": str(demo_actor.organization_id),
            "user_id": str(demo_actor.user_id),
        },
    )
    init_http_context(user=user)
    thread_id = str(uuid.uuid4())

    await layer.create_step(
        {
            "id": str(uuid.uuid4()),
            "threadId": thread_id,
            "type": "run",
            "name": "on_chat_start",
            "output": "",
        }
    )
    after_start = await layer.organization_of(thread_id)
    await layer.create_step(
        {
            "id": str(uuid.uuid4()),
            "threadId": thread_id,
            "type": "user_message",
            "output": "How many stores?",
        }
    )
    after_question = await layer.organization_of(thread_id)

    assert after_start is None
    assert after_question == demo_actor.organization_id
