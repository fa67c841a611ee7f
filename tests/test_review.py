"""Reviewers browse every conversation of their organization, and only of theirs."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest
from fastapi import FastAPI

from dana.chat import handlers
from dana.chat.data_layer import DanaDataLayer, chat_user_id
from dana.chat.review import build_review_router
from dana.db import accounts
from dana.db.session import fetch_all


@pytest.fixture
async def review_client(runtime):
    os.environ.setdefault("CHAINLIT_AUTH_SECRET", "test-secret-" + uuid.uuid4().hex)
    handlers._runtime = runtime
    import app as chainlit_app  # registers the login hook: the pages then require a login

    assert chainlit_app.login is not None
    api = FastAPI()
    api.include_router(build_review_router(lambda: runtime))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api), base_url="http://test"
    ) as client:
        yield client


async def token_for(runtime, email: str, password: str) -> str:
    from chainlit.auth import create_jwt

    user = await handlers.authenticate(email, password)
    assert user is not None
    return create_jwt(user)


async def conversation_of(runtime, organization, title: str) -> str:
    layer = DanaDataLayer(runtime.db)
    thread_id = str(uuid.uuid4())
    await layer.update_thread(
        thread_id,
        name=title,
        user_id=chat_user_id(organization.organization_id, organization.user_id),
    )
    await layer.create_step(
        {
            "id": str(uuid.uuid4()),
            "threadId": thread_id,
            "type": "user_message",
            "output": f"{title} <script>x</script>",
        }
    )
    return thread_id


async def test_review_pages_list_and_show_conversations_escaped(
    runtime, organization, review_client
):
    email = f"rev-{uuid.uuid4().hex[:6]}@example.com"
    await accounts.add_user(runtime.db, organization.organization_id, email, "reviewer", "pw-r")
    thread_id = await conversation_of(runtime, organization, "Revenue of the admin")
    headers = {"Authorization": f"Bearer {await token_for(runtime, email, 'pw-r')}"}

    listing = await review_client.get("/review", headers=headers)
    page = await review_client.get(f"/review/{thread_id}", headers=headers)

    assert listing.status_code == 200
    assert "Revenue of the admin" in listing.text
    assert page.status_code == 200
    assert "&lt;script&gt;" in page.text and "<script>x" not in page.text


async def test_analyst_cannot_browse_all_conversations(runtime, organization, review_client):
    email = f"an-{uuid.uuid4().hex[:6]}@example.com"
    await accounts.add_user(runtime.db, organization.organization_id, email, "analyst", "pw-a")
    headers = {"Authorization": f"Bearer {await token_for(runtime, email, 'pw-a')}"}

    response = await review_client.get("/review", headers=headers)

    assert response.status_code == 403


async def test_reviewer_cannot_open_another_organizations_conversation(
    runtime, organization, demo_actor, review_client
):
    email = f"rev-{uuid.uuid4().hex[:6]}@example.com"
    await accounts.add_user(runtime.db, organization.organization_id, email, "reviewer", "pw-r")
    other = await conversation_of(runtime, demo_actor, "Demo secret question")
    headers = {"Authorization": f"Bearer {await token_for(runtime, email, 'pw-r')}"}

    listing = await review_client.get("/review", headers=headers)
    page = await review_client.get(f"/review/{other}", headers=headers)

    assert "Demo secret question" not in listing.text
    assert page.status_code == 404
    async with runtime.db.transaction(organization.organization_id) as connection:
        events = await fetch_all(
            connection, "SELECT detail FROM security_events WHERE kind = 'cross_org_access'"
        )
    assert [e["detail"]["id"] for e in events] == [other]


async def test_review_needs_a_login(review_client):
    response = await review_client.get("/review")

    assert response.status_code == 401


async def test_a_stored_answers_csv_is_served_to_its_author_only(
    runtime, organization, review_client
):
    layer = DanaDataLayer(runtime.db)
    thread_id, answer_id = str(uuid.uuid4()), str(uuid.uuid4())
    await layer.update_thread(
        thread_id,
        name="Stores",
        user_id=chat_user_id(organization.organization_id, organization.user_id),
    )
    result = {"columns": ["store", "orders"], "rows": [["Austin", 3], ["Boston", 5]]}
    await layer.create_step(
        {
            "id": answer_id,
            "threadId": thread_id,
            "type": "assistant_message",
            "output": "2 rows.",
            "metadata": {"result": result, "chart": {"type": "bar", "x": "store", "y": ["orders"]}},
        }
    )
    slug = (
        await accounts.get_user(runtime.db, organization.organization_id, organization.user_id)
    ).email
    author = {
        "Authorization": f"Bearer {await token_for(runtime, slug, 'pw-' + slug.split('@')[0])}"
    }
    analyst_email = f"an-{uuid.uuid4().hex[:6]}@example.com"
    await accounts.add_user(
        runtime.db, organization.organization_id, analyst_email, "analyst", "pw-a"
    )
    other = {"Authorization": f"Bearer {await token_for(runtime, analyst_email, 'pw-a')}"}

    csv = await review_client.get(f"/elements/{answer_id}/result.csv", headers=author)
    chart = await review_client.get(f"/elements/{answer_id}/chart.json", headers=author)
    refused = await review_client.get(f"/elements/{answer_id}/result.csv", headers=other)
    thread = await layer.get_thread(thread_id)

    assert csv.status_code == 200 and csv.text.splitlines() == [
        "store,orders",
        "Austin,3",
        "Boston,5",
    ]
    assert chart.status_code == 200 and "Austin" in chart.text
    assert refused.status_code == 404
    assert {e["name"] for e in thread["elements"]} == {"result.csv", "chart"}
