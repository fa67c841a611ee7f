"""The walking skeleton in a real browser: log in, ask, read the answers, reload."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import ADMIN_PASSWORD, ROOT
from playwright.async_api import Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from dana.db import embedded

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chat_url(runtime, data_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DANA_DATA_DIR": str(data_dir),
        "DANA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DATABASE_URL", None)
    log = open(data_dir / "serve.log", "w")  # noqa: SIM115 - closed after the server stops
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dana.cli",
            "serve",
            "--no-setup",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.5)
    else:
        server.kill()
    if server.poll() is not None:
        log.close()
        raise AssertionError(
            "the chat server did not start:\n" + (data_dir / "serve.log").read_text()
        )
    yield url
    server.terminate()
    server.wait(timeout=20)
    log.close()


def demo_rows(runtime, sql: str) -> list[tuple]:
    url = runtime.urls.embedded.url(embedded.OWNER_ROLE, embedded.DEMO_DATABASE)
    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchall()


async def ask(page: Page, question: str) -> str:
    """Type a question, wait for the answer, and return the text of the last answer."""
    answers = page.locator("[data-step-type=assistant_message]")
    questions = page.locator("[data-step-type=user_message]")
    before, asked = await answers.count(), await questions.count()
    await page.fill("#chat-input", question)
    # The first Enter can come before the chat's socket is connected: send until it shows.
    for _ in range(20):
        await page.keyboard.press("Enter")
        try:
            await page.wait_for_function(
                "n => document.querySelectorAll('[data-step-type=user_message]').length > n",
                arg=asked,
                timeout=1_500,
            )
            break
        except PlaywrightTimeout:
            continue
    await page.wait_for_function(
        "n => document.querySelectorAll('[data-step-type=assistant_message]').length > n",
        arg=before,
        timeout=60_000,
    )
    await page.wait_for_timeout(500)
    return await answers.last.inner_text()


def numbers_in(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", text)]


async def test_questions_in_the_chat_are_answered_and_kept_after_reload(runtime, chat_url):
    [(customers,)] = demo_rows(runtime, "SELECT count(*) FROM customers")
    top_products = demo_rows(
        runtime,
        "SELECT p.name FROM order_items oi JOIN products p ON p.id = oi.product_id"
        " GROUP BY p.id, p.name"
        " ORDER BY sum(oi.quantity * oi.unit_price * (1 - oi.discount)) DESC LIMIT 5",
    )
    monthly = demo_rows(
        runtime,
        "SELECT sum(oi.quantity * oi.unit_price * (1 - oi.discount)) FROM order_items oi"
        " JOIN orders o ON o.id = oi.order_id WHERE o.ordered_at >= '2025-01-01'"
        " AND o.ordered_at < '2026-01-01' GROUP BY date_trunc('month', o.ordered_at) ORDER BY 1",
    )

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1300, "height": 1000})
        await page.goto(chat_url + "/login")
        await page.fill("#email", "admin@example.com")
        await page.fill("#password", ADMIN_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_selector("#chat-input", timeout=30_000)

        count_answer = await ask(page, "How many customers are there?")
        products_answer = await ask(page, "What are the top 5 products by revenue?")
        monthly_answer = await ask(page, "What was the revenue per month in 2025?")
        sql_steps = await page.get_by_text("Used SQL").count()

        await page.wait_for_timeout(2_000)  # Chainlit stores the last steps just after showing them
        await page.goto(chat_url)
        await page.wait_for_selector("#chat-input", timeout=30_000)
        history = page.locator("#thread-history").get_by_text("How many customers are there?")
        await history.first.wait_for(timeout=30_000)
        await history.first.click()
        await page.get_by_text("What was the revenue per month in 2025?").first.wait_for()
        await page.wait_for_timeout(1_000)
        resumed = await page.locator("body").inner_text()
        await browser.close()

    assert customers in numbers_in(count_answer)
    for (name,) in top_products:
        assert name in products_answer
    shown = numbers_in(monthly_answer)
    for (total,) in monthly:
        assert round(float(total), 2) in shown
    assert sql_steps >= 3
    assert "What are the top 5 products by revenue?" in resumed
    assert str(customers) in resumed
    assert "result.csv" in resumed  # the resumed answers still offer their CSV
