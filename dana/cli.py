"""The `dana` command: set-up, questions, queries, connections, users and keys.

Heavy modules (the embedding model, Chainlit) are imported only by the commands that
need them, so that `dana sql check` answers at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from dana.errors import DanaError

log = logging.getLogger("dana")

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Refusals and failures are printed as answers; log lines only with --verbose.
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return asyncio.run(args.handler(args))
    except DanaError as error:
        log.debug("command failed: %s", error.detail)
        if getattr(args, "json", False):
            print(
                json.dumps(
                    {
                        "status": error.status,
                        "message": error.message,
                        "sql": None,
                        "columns": [],
                        "rows": [],
                    }
                )
            )
        else:
            print(f"error: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dana", description="Ask your databases questions.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(metavar="COMMAND")

    def command(
        name: str, handler: Handler, help: str, parent: Any = sub
    ) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    p = command("setup", cmd_setup, "migrate and create the demo organization and database")
    p = command("serve", cmd_serve, "start the chat server")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--no-setup", action="store_true", help="skip the set-up step")

    command("stop", cmd_stop, "stop the embedded database server of the data folder")

    p = command("ask", cmd_ask, "ask a question in plain language")
    p.add_argument("question")
    p.add_argument("--connection", default="demo")
    _org_and_json(p)

    p = command("query", cmd_query, "run checked SQL on a connection")
    p.add_argument("connection")
    p.add_argument("sql")
    _org_and_json(p)

    p = command("context", cmd_context, "show the schema context retrieved for a question")
    p.add_argument("question")
    p.add_argument("--connection", default="demo")
    _org_and_json(p)

    sql = sub.add_parser("sql", help="SQL tools").add_subparsers(metavar="ACTION")
    p = command("check", cmd_sql_check, "check SQL with the guard", sql)
    p.add_argument("sql")
    p.add_argument("--dialect", default="postgres", choices=["postgres", "mysql", "sqlite"])
    p.add_argument("--connection", default=None, help="check names against its cached schema")
    p.add_argument("--org", default="demo")

    db = sub.add_parser("db", help="the app database").add_subparsers(metavar="ACTION")
    command("upgrade", cmd_db_upgrade, "apply migrations", db)
    p = command("url", cmd_db_url, "print a libpq URL of the app database", db)
    p.add_argument("--owner", action="store_true", help="the owner's URL (for psql)")

    org = sub.add_parser("org", help="the organization").add_subparsers(metavar="ACTION")
    p = command("set", cmd_org_set, "change the plan or settings of an organization", org)
    p.add_argument("--plan", choices=["free", "team", "enterprise"])
    p.add_argument("--daily-query-limit", type=int, help="queries a day; 0 for the plan's")
    p.add_argument("--org", default="demo")

    users = sub.add_parser("users", help="users").add_subparsers(metavar="ACTION")
    p = command("add", cmd_users_add, "add a user", users)
    p.add_argument("--email", required=True)
    p.add_argument("--role", required=True, choices=["admin", "analyst", "reviewer"])
    p.add_argument("--name", default="")
    p.add_argument("--password", default=None, help="default: generated and printed")
    p.add_argument("--org", default="demo")
    p = command("set-role", cmd_users_set_role, "change a user's role", users)
    p.add_argument("--email", required=True)
    p.add_argument("--role", required=True, choices=["admin", "analyst", "reviewer"])
    p.add_argument("--org", default="demo")
    p = command("list", cmd_users_list, "list users", users)
    p.add_argument("--org", default="demo")

    keys = sub.add_parser("keys", help="API keys").add_subparsers(metavar="ACTION")
    p = command("create", cmd_keys_create, "create an API key (printed once, last line)", keys)
    p.add_argument("--user", required=True, help="email of the key's user")
    p.add_argument("--name", required=True)
    p = command("revoke", cmd_keys_revoke, "revoke an API key", keys)
    p.add_argument("name")
    p.add_argument("--org", default="demo")

    conns = sub.add_parser("connections", help="database connections").add_subparsers(
        metavar="ACTION"
    )
    p = command("add", cmd_conn_add, "register a database", conns)
    p.add_argument("--name", required=True)
    p.add_argument("--dialect", choices=["postgres", "mysql", "sqlite"])
    p.add_argument("--url", help="postgresql://, mysql:// or sqlite:///path")
    for field in ("host", "database", "user", "password", "path"):
        p.add_argument(f"--{field}")
    p.add_argument("--port", type=int)
    p.add_argument("--org", default="demo")
    p.add_argument("--keep", action="store_true", help="keep it even when its test fails")
    p = command("list", cmd_conn_list, "list connections", conns)
    _org_and_json(p)
    for name, handler, help in (
        ("test", cmd_conn_test, "test a connection"),
        ("refresh", cmd_conn_refresh, "read the schema again and embed what changed"),
        ("remove", cmd_conn_remove, "remove a connection"),
    ):
        p = command(name, handler, help, conns)
        p.add_argument("name")
        _org_and_json(p)

    glossary = sub.add_parser("glossary", help="business terms").add_subparsers(metavar="ACTION")
    p = command("define", cmd_glossary_define, "define a business term as SQL", glossary)
    p.add_argument("--connection", default="demo")
    p.add_argument("--term", required=True)
    p.add_argument("--sql", required=True, help="a row-level expression, e.g. qty * price")
    p.add_argument("--definition", default="")
    p.add_argument("--org", default="demo")
    p = command("list", cmd_glossary_list, "list business terms", glossary)
    p.add_argument("--connection", default="demo")
    p.add_argument("--org", default="demo")

    events = sub.add_parser("events", help="security events and audit log").add_subparsers(
        metavar="LOG"
    )
    for name, handler, help in (
        ("security", cmd_events_security, "refusals, failed logins, limits, cross-org access"),
        ("audit", cmd_events_audit, "who changed what"),
    ):
        p = command(name, handler, help, events)
        p.add_argument("--limit", type=int, default=50)
        _org_and_json(p)

    secrets = sub.add_parser("secrets", help="encryption keys").add_subparsers(metavar="ACTION")
    command("rotate", cmd_secrets_rotate, "re-encrypt all credentials under a new key", secrets)

    ev = sub.add_parser("eval", help="measure translation accuracy").add_subparsers(
        metavar="BENCHMARK"
    )
    p = command("spider", cmd_eval_spider, "execution accuracy on a Spider-layout folder", ev)
    p.add_argument("path")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--report", default=None, help="write one JSON line per question here")
    p.add_argument("--org", default="spider-eval")
    return parser


def _org_and_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--org", default="demo", help="organization slug (default: demo)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _runtime():  # noqa: ANN202
    from dana.runtime import Runtime

    return Runtime.start()


@asynccontextmanager
async def _opened() -> AsyncIterator[Any]:
    """The runtime for one command, closed when the command ends however it ends."""
    runtime = _runtime()
    try:
        yield runtime
    finally:
        await runtime.close()


async def _actor(runtime: Any, slug: str) -> Any:
    from dana.db import accounts
    from dana.db.audit import Actor

    return Actor(await accounts.require_organization(runtime.db, slug))


def _print_answer(answer: Any, as_json: bool) -> int:
    if as_json:
        print(json.dumps(answer.to_json(), default=str))
    else:
        if answer.sql:
            print(answer.sql)
            print()
        print(answer.message)
        if answer.columns:
            print(format_table(answer.columns, answer.rows))
    return 0 if answer.status == "ok" else 1


def format_table(columns: list[str], rows: list[list[Any]], limit: int = 50) -> str:
    shown = [["" if v is None else str(v) for v in row] for row in rows[:limit]]
    widths = [max([len(c)] + [len(r[i]) for r in shown]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in shown]
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more rows")
    return "\n".join(lines)


async def cmd_setup(args: argparse.Namespace) -> int:
    from dana.setup import setup

    async with _opened() as runtime:
        report = await setup(runtime)
    _print_login(report)
    return 0


def _print_login(report: Any) -> None:
    print(f"DANA is set up. Log in as {report.admin_email}", end="")
    if report.admin_password:
        print(f" with the password {report.admin_password}")
        print(f"(shown once; also kept, readable only by you, in {report.password_file})")
    elif report.password_file:
        print(f" with the password in {report.password_file}")
    else:
        print(" with the password from DANA_ADMIN_PASSWORD")


async def cmd_serve(args: argparse.Namespace) -> int:
    from dana.config import get_settings

    if not args.no_setup:
        await cmd_setup(args)
    port = args.port or get_settings().port
    from dana.chat.server import serve
    from dana.retrieval.embedder import get_embedder

    # Load the embedding model now, so the first question does not wait for it.
    await asyncio.to_thread(get_embedder(get_settings().embedding_model).embed, ["warm-up"])

    print(f"Serving the chat at http://localhost:{port}", flush=True)
    await serve(args.host, port)
    return 0


async def cmd_stop(args: argparse.Namespace) -> int:
    from dana.config import get_settings
    from dana.db import embedded

    embedded.stop(get_settings().data_dir)
    print("the embedded database server is stopped")
    return 0


async def cmd_events_security(args: argparse.Namespace) -> int:
    return await _print_log(
        args,
        "SELECT e.created_at, e.kind, e.severity, u.email, e.detail FROM security_events e"
        " LEFT JOIN users u ON u.id = e.user_id ORDER BY e.created_at DESC LIMIT :n",
        ["time", "kind", "severity", "user", "detail"],
    )


async def cmd_events_audit(args: argparse.Namespace) -> int:
    return await _print_log(
        args,
        "SELECT a.created_at, a.action, u.email, a.resource_type, a.data FROM audit_logs a"
        " LEFT JOIN users u ON u.id = a.user_id ORDER BY a.created_at DESC LIMIT :n",
        ["time", "action", "user", "resource", "data"],
    )


async def _print_log(args: argparse.Namespace, sql: str, columns: list[str]) -> int:
    from dana.db.session import fetch_all

    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        async with runtime.db.transaction(actor.organization_id) as connection:
            rows = await fetch_all(connection, sql, {"n": args.limit})
    if args.json:
        print(json.dumps(rows, default=str))
    else:
        shown = [[str(v)[:80] if v is not None else "" for v in r.values()] for r in rows]
        print(format_table(columns, shown))
    return 0


async def cmd_ask(args: argparse.Namespace) -> int:
    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        answer = await runtime.pipeline.ask(actor, args.connection, args.question)
    return _print_answer(answer, args.json)


async def cmd_query(args: argparse.Namespace) -> int:
    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        answer = await runtime.pipeline.run_sql(actor, args.connection, args.sql)
    return _print_answer(answer, args.json)


async def cmd_context(args: argparse.Namespace) -> int:
    from dana.retrieval.context import describe, render_table

    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        registered = await runtime.registry.get(actor.organization_id, args.connection)
        context = await runtime.pipeline.context_for(actor, registered, args.question)
    if args.json:
        print(json.dumps(describe(context)))
    else:
        for table in context.schema.tables:
            print(render_table(table))
        print(f"({context.tokens} tokens of {context.full_table_count} tables)")
    return 0


async def cmd_sql_check(args: argparse.Namespace) -> int:
    from dana.sql.guard import validate

    schema = None
    if args.connection:
        async with _opened() as runtime:
            actor = await _actor(runtime, args.org)
            registered = await runtime.registry.get(actor.organization_id, args.connection)
            schema = await runtime.registry.cached_schema(actor.organization_id, registered.id)
            dialect = registered.dialect
    else:
        dialect = args.dialect
    validation = validate(args.sql, dialect, schema)
    if validation.allowed:
        print(validation.sql)
        return 0
    print(f"refused: {validation.message}")
    return 1


async def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from dana.db.migrate import upgrade

    runtime = _runtime()
    upgrade(runtime.urls.owner)
    print("the app database is up to date")
    return 0


async def cmd_db_url(args: argparse.Namespace) -> int:
    runtime = _runtime()
    print(runtime.urls.owner if args.owner else runtime.urls.app)
    return 0


async def cmd_users_add(args: argparse.Namespace) -> int:
    from dana.db import accounts

    async with _opened() as runtime:
        organization_id = await accounts.require_organization(runtime.db, args.org)
        password = args.password or accounts.generate_password()
        await accounts.add_user(
            runtime.db, organization_id, args.email, args.role, password, name=args.name
        )
    print(f"added {args.email} ({args.role})")
    if not args.password:
        print(f"password: {password}")
    return 0


async def cmd_org_set(args: argparse.Namespace) -> int:
    from dana.db import accounts

    settings = {}
    if args.daily_query_limit is not None:
        settings["daily_query_limit"] = args.daily_query_limit or None
    if args.plan is None and not settings:
        raise DanaError("give --plan or --daily-query-limit")
    async with _opened() as runtime:
        organization_id = await accounts.require_organization(runtime.db, args.org)
        await accounts.update_organization(runtime.db, organization_id, args.plan, settings)
    print(f"organization {args.org} updated")
    return 0


async def cmd_users_set_role(args: argparse.Namespace) -> int:
    from dana.db import accounts

    async with _opened() as runtime:
        organization_id = await accounts.require_organization(runtime.db, args.org)
        await accounts.set_role(runtime.db, organization_id, args.email, args.role)
    print(f"{args.email} is now {args.role}")
    return 0


async def cmd_glossary_define(args: argparse.Namespace) -> int:
    from dana.sql.guard import validate

    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        registered = await runtime.registry.get(actor.organization_id, args.connection)
        # The term's SQL ends up inside queries: it must pass the guard on its own.
        check = validate(f"SELECT {args.sql}", registered.dialect, None)
        if not check.allowed:
            raise DanaError(f"the term's SQL is refused: {check.message}")
        await runtime.pipeline.define_term(
            actor, args.connection, args.term, args.sql, args.definition
        )
    print(f"defined {args.term}")
    return 0


async def cmd_glossary_list(args: argparse.Namespace) -> int:
    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        registered = await runtime.registry.get(actor.organization_id, args.connection)
        terms = await runtime.registry.glossary(actor.organization_id, registered.id)
    print(format_table(["term", "sql", "meaning"], [[t.term, t.sql, t.definition] for t in terms]))
    return 0


async def cmd_users_list(args: argparse.Namespace) -> int:
    from dana.db import accounts

    async with _opened() as runtime:
        organization_id = await accounts.require_organization(runtime.db, args.org)
        users = await accounts.list_users(runtime.db, organization_id)
    print(
        format_table(
            ["email", "name", "role", "last login"],
            [[u["email"], u["name"], u["role"], u["last_login_at"]] for u in users],
        )
    )
    return 0


async def cmd_keys_create(args: argparse.Namespace) -> int:
    from dana.db import accounts

    async with _opened() as runtime:
        user = await accounts.find_user(runtime.db, args.user)
        if user is None:
            raise DanaError(f"there is no user with the email {args.user}")
        key = await accounts.create_api_key(runtime.db, user, args.name)
    print(f"API key {args.name} for {user.email}; it is shown only now:")
    print(key)
    return 0


async def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from dana.db import accounts

    async with _opened() as runtime:
        organization_id = await accounts.require_organization(runtime.db, args.org)
        await accounts.revoke_api_key(runtime.db, organization_id, args.name)
    print(f"revoked {args.name}")
    return 0


async def cmd_conn_add(args: argparse.Namespace) -> int:
    from dana.integrations.urls import ConnectionConfig, parse_url

    if args.url:
        config = parse_url(args.url)
    else:
        if not args.dialect:
            raise DanaError("give --url, or --dialect with --host/--database/--user or --path")
        config = ConnectionConfig(
            dialect=args.dialect,
            host=args.host,
            port=args.port,
            database=args.database,
            username=args.user,
            password=args.password,
            path=args.path,
        )
    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        await runtime.registry.add(actor, args.name, config)
        result = await runtime.registry.test(actor, args.name)
        if result.success:
            registered = await runtime.registry.get(actor.organization_id, args.name)
            schema = await runtime.pipeline.refresh_schema(actor, registered)
        elif not args.keep:
            # A connection that cannot connect is no use to anyone: say why, keep nothing.
            await runtime.registry.remove(actor, args.name)
    _print_test(args.name, result)
    if result.success:
        print(f"read {len(schema.tables)} tables")
    return 0 if result.success else 1


def _print_test(name: str, result: Any) -> None:
    if result.success:
        print(f"{name}: ok, {result.server_version}, {result.response_ms:.0f} ms")
        if result.warning:
            print(f"warning: {result.warning}")
    else:
        print(f"{name}: failed: {result.error}")


async def cmd_conn_list(args: argparse.Namespace) -> int:
    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        rows = await runtime.registry.list(actor.organization_id)
    if args.json:
        print(json.dumps(rows, default=str))
    else:
        print(
            format_table(
                ["name", "dialect", "status", "version", "tables"],
                [
                    [r["name"], r["dialect"], r["status"], r["server_version"], r["table_count"]]
                    for r in rows
                ],
            )
        )
    return 0


async def cmd_conn_test(args: argparse.Namespace) -> int:
    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        result = await runtime.registry.test(actor, args.name)
    if args.json:
        print(
            json.dumps(
                {
                    "success": result.success,
                    "server_version": result.server_version,
                    "response_ms": result.response_ms,
                    "error": result.error,
                    "warning": result.warning,
                }
            )
        )
    else:
        _print_test(args.name, result)
    return 0 if result.success else 1


async def cmd_conn_refresh(args: argparse.Namespace) -> int:
    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        registered = await runtime.registry.get(actor.organization_id, args.name)
        schema = await runtime.pipeline.refresh_schema(actor, registered)
    print(f"{args.name}: read {len(schema.tables)} tables")
    return 0


async def cmd_conn_remove(args: argparse.Namespace) -> int:
    async with _opened() as runtime:
        actor = await _actor(runtime, args.org)
        await runtime.registry.remove(actor, args.name)
    print(f"removed {args.name}")
    return 0


async def cmd_secrets_rotate(args: argparse.Namespace) -> int:
    from dana.integrations.rotation import rotate_all

    async with _opened() as runtime:
        count = await rotate_all(runtime)
    print(f"re-encrypted {count} connections under the new key")
    return 0


async def cmd_eval_spider(args: argparse.Namespace) -> int:
    from dana.evaluation import run_spider_eval

    async with _opened() as runtime:
        result = await run_spider_eval(runtime, args.path, args.limit, args.org, args.report)
    if args.json:
        print(json.dumps(result.summary()))
    else:
        print(result.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
