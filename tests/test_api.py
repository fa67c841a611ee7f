"""The REST API answers with an API key, and refuses without one."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from dana.api.routes import add_api
from dana.db import accounts
from dana.db.session import fetch_all


@pytest.fixture
async def client(runtime):
    app = FastAPI()
    add_api(app, lambda: runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


@pytest.fixture
async def key(runtime, demo_actor):
    user = await accounts.find_user(runtime.db, "admin@example.com")
    return await accounts.create_api_key(runtime.db, user, f"api-test-{uuid.uuid4().hex[:8]}")


async def test_ask_answers_with_a_valid_key(client, key):
    response = await client.post(
        "/api/v1/ask",
        json={"question": "How many customers are there?"},
        headers={"Authorization": f"Bearer {key}"},
    )

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["rows"] == [[500]]


async def test_query_refuses_a_write_with_the_reason(client, key):
    response = await client.post(
        "/api/v1/query",
        json={"sql": "DROP TABLE customers"},
        headers={"Authorization": f"Bearer {key}"},
    )

    assert response.status_code == 200
    assert response.json()["status"] == "refused"
    assert "only reads" in response.json()["message"]


@pytest.mark.parametrize("header", ["", "Bearer nope", "Bearer dana_000000000000_wrong"])
async def test_requests_without_a_valid_key_are_refused(client, header):
    response = await client.post(
        "/api/v1/ask", json={"question": "How many customers?"}, headers={"Authorization": header}
    )

    assert response.status_code == 401
    assert "API key" in response.json()["detail"]


async def test_api_routes_come_before_a_catch_all_route(runtime):
    app = FastAPI()

    @app.get("/{path:path}")
    async def catch_all(path: str) -> dict:
        return {"ui": path}

    add_api(app, lambda: runtime)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.get("/api/v1/connections")

    assert response.status_code == 401


async def test_a_refusal_records_where_the_request_came_from(runtime, client, key, demo_actor):
    await client.post(
        "/api/v1/query",
        json={"sql": "DELETE FROM orders"},
        headers={"Authorization": f"Bearer {key}", "User-Agent": "report-bot/1.0"},
    )

    async with runtime.db.transaction(demo_actor.organization_id) as connection:
        rows = await fetch_all(
            connection,
            "SELECT ip, user_agent FROM security_events WHERE kind = 'query_refused'"
            " ORDER BY created_at DESC LIMIT 1",
        )
    assert rows[0]["user_agent"] == "report-bot/1.0"
    assert rows[0]["ip"]
