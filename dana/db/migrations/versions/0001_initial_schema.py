"""The whole app schema: organizations, users, connections, logs, chat, workflows, audit.

Every tenant table carries `organization_id` and is under forced row-level security with
a policy on `app.current_org`; the app's login role owns nothing and is not a superuser.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import re

from alembic import context, op

revision = "0001"
down_revision = None

EMBEDDING_DIMENSION = 384

# name -> column definitions after the common ones (id, organization_id, timestamps).
TENANT_TABLES: dict[str, str] = {
    "users": """
        email text NOT NULL,
        name text NOT NULL DEFAULT '',
        role text NOT NULL CHECK (role IN ('admin', 'analyst', 'reviewer')),
        password_hash text,
        preferences jsonb NOT NULL DEFAULT '{}',
        is_active boolean NOT NULL DEFAULT true,
        last_login_at timestamptz
    """,
    "api_keys": """
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name text NOT NULL,
        prefix text NOT NULL UNIQUE,
        key_hash text NOT NULL,
        scopes text[] NOT NULL DEFAULT '{}',
        expires_at timestamptz,
        last_used_at timestamptz,
        revoked_at timestamptz,
        UNIQUE (organization_id, name)
    """,
    "data_sources": """
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        owner_id uuid REFERENCES users(id) ON DELETE SET NULL,
        UNIQUE (organization_id, name)
    """,
    "integration_connections": """
        data_source_id uuid REFERENCES data_sources(id) ON DELETE SET NULL,
        name text NOT NULL,
        dialect text NOT NULL CHECK (dialect IN ('postgres', 'mysql', 'sqlite')),
        encrypted_config text NOT NULL,
        status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'ok', 'failing', 'disabled')),
        capabilities jsonb NOT NULL DEFAULT '{}',
        server_version text,
        last_tested_at timestamptz,
        created_by uuid REFERENCES users(id) ON DELETE SET NULL,
        UNIQUE (organization_id, name)
    """,
    "integration_connection_tests": """
        connection_id uuid NOT NULL REFERENCES integration_connections(id) ON DELETE CASCADE,
        success boolean NOT NULL,
        response_ms double precision,
        server_version text,
        can_write boolean,
        error text,
        error_field text,
        pool_status jsonb NOT NULL DEFAULT '{}',
        tested_by uuid REFERENCES users(id) ON DELETE SET NULL
    """,
    "integration_database_contexts": """
        connection_id uuid NOT NULL REFERENCES integration_connections(id) ON DELETE CASCADE,
        schema_version integer NOT NULL,
        context jsonb NOT NULL,
        content_hash text NOT NULL,
        expires_at timestamptz,
        UNIQUE (connection_id, schema_version)
    """,
    "integration_schema_cache": """
        connection_id uuid NOT NULL UNIQUE
            REFERENCES integration_connections(id) ON DELETE CASCADE,
        schema jsonb NOT NULL,
        tables jsonb NOT NULL DEFAULT '[]',
        columns jsonb NOT NULL DEFAULT '[]',
        indexes jsonb NOT NULL DEFAULT '[]',
        foreign_keys jsonb NOT NULL DEFAULT '[]',
        triggers jsonb NOT NULL DEFAULT '[]',
        row_counts jsonb NOT NULL DEFAULT '{}',
        sizes jsonb NOT NULL DEFAULT '{}',
        table_count integer NOT NULL DEFAULT 0,
        content_hash text NOT NULL,
        refreshed_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz
    """,
    "conversations": """
        user_id uuid REFERENCES users(id) ON DELETE SET NULL,
        connection_id uuid REFERENCES integration_connections(id) ON DELETE SET NULL,
        title text NOT NULL DEFAULT '',
        metadata jsonb NOT NULL DEFAULT '{}',
        tags text[] NOT NULL DEFAULT '{}'
    """,
    "chat_messages": """
        conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id uuid,  -- no foreign key: Chainlit may store a step before its parent
        role text NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
        step_type text NOT NULL DEFAULT 'assistant_message',
        name text NOT NULL DEFAULT '',
        content text NOT NULL DEFAULT '',
        sql text,
        metadata jsonb NOT NULL DEFAULT '{}',
        started_at timestamptz,
        ended_at timestamptz
    """,
    "message_feedback": """
        message_id uuid NOT NULL UNIQUE REFERENCES chat_messages(id) ON DELETE CASCADE,
        user_id uuid REFERENCES users(id) ON DELETE SET NULL,
        value smallint NOT NULL CHECK (value IN (-1, 0, 1)),
        comment text
    """,
    "integration_query_logs": """
        connection_id uuid REFERENCES integration_connections(id) ON DELETE SET NULL,
        user_id uuid REFERENCES users(id) ON DELETE SET NULL,
        conversation_id uuid REFERENCES conversations(id) ON DELETE SET NULL,
        request_id text,
        query_hash text NOT NULL,
        pattern_hash text,
        sql text NOT NULL,
        status text NOT NULL CHECK (status IN ('ok', 'refused', 'timeout', 'error')),
        row_count integer,
        execution_ms double precision,
        error_class text,
        error text
    """,
    "integration_query_metrics": """
        connection_id uuid NOT NULL REFERENCES integration_connections(id) ON DELETE CASCADE,
        pattern_hash text NOT NULL,
        pattern text NOT NULL,
        executions bigint NOT NULL DEFAULT 0,
        successes bigint NOT NULL DEFAULT 0,
        total_rows bigint NOT NULL DEFAULT 0,
        avg_ms double precision NOT NULL DEFAULT 0,
        min_ms double precision,
        max_ms double precision,
        last_run_at timestamptz,
        UNIQUE (connection_id, pattern_hash)
    """,
    "llm_calls": """
        user_id uuid REFERENCES users(id) ON DELETE SET NULL,
        request_id text,
        provider text NOT NULL,
        model text NOT NULL DEFAULT '',
        success boolean NOT NULL,
        tokens_in integer,
        tokens_out integer,
        elapsed_ms double precision,
        error text
    """,
    "workflows": """
        name text NOT NULL,
        kind text NOT NULL DEFAULT 'saved_answer',
        definition jsonb NOT NULL DEFAULT '{}',
        schedule text,
        enabled boolean NOT NULL DEFAULT true,
        created_by uuid REFERENCES users(id) ON DELETE SET NULL,
        UNIQUE (organization_id, name)
    """,
    "workflow_executions": """
        workflow_id uuid NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
        status text NOT NULL CHECK (status IN ('running', 'ok', 'error')),
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        result jsonb NOT NULL DEFAULT '{}',
        error text
    """,
    "ai_agents": """
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        instructions text NOT NULL DEFAULT '',
        connection_ids uuid[] NOT NULL DEFAULT '{}',
        settings jsonb NOT NULL DEFAULT '{}',
        enabled boolean NOT NULL DEFAULT true,
        UNIQUE (organization_id, name)
    """,
    "glossary_terms": """
        connection_id uuid REFERENCES integration_connections(id) ON DELETE CASCADE,
        term text NOT NULL,
        definition text NOT NULL DEFAULT '',
        sql text NOT NULL DEFAULT '',
        UNIQUE (organization_id, connection_id, term)
    """,
    "audit_logs": """
        user_id uuid REFERENCES users(id) ON DELETE SET NULL,
        action text NOT NULL,
        resource_type text NOT NULL DEFAULT '',
        resource_id text,
        data jsonb NOT NULL DEFAULT '{}',
        ip text,
        user_agent text
    """,
    "security_events": """
        user_id uuid REFERENCES users(id) ON DELETE SET NULL,
        kind text NOT NULL,
        severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
        detail jsonb NOT NULL DEFAULT '{}',
        ip text,
        user_agent text
    """,
    "embeddings": f"""
        connection_id uuid REFERENCES integration_connections(id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('table', 'column', 'glossary', 'example')),
        ref text NOT NULL,
        content text NOT NULL,
        content_hash text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{{}}',
        embedding vector({EMBEDDING_DIMENSION}) NOT NULL,
        UNIQUE (connection_id, kind, ref)
    """,
}

INDEXES = [
    "CREATE UNIQUE INDEX users_email_key ON users (lower(email))",
    "CREATE INDEX api_keys_user_idx ON api_keys (user_id)",
    "CREATE INDEX integration_connection_tests_conn_idx"
    " ON integration_connection_tests (connection_id, created_at DESC)",
    "CREATE INDEX integration_schema_cache_expiry_idx ON integration_schema_cache (expires_at)",
    "CREATE INDEX integration_database_contexts_expiry_idx"
    " ON integration_database_contexts (expires_at)",
    "CREATE INDEX conversations_user_idx ON conversations (organization_id, user_id, updated_at DESC)",
    "CREATE INDEX chat_messages_conversation_idx ON chat_messages (conversation_id, created_at)",
    "CREATE INDEX integration_query_logs_time_idx"
    " ON integration_query_logs (organization_id, created_at DESC)",
    "CREATE INDEX integration_query_logs_conn_idx"
    " ON integration_query_logs (connection_id, created_at DESC)",
    "CREATE INDEX integration_query_logs_status_idx ON integration_query_logs (status)",
    "CREATE INDEX integration_query_logs_hash_idx ON integration_query_logs (query_hash)",
    "CREATE INDEX workflow_executions_workflow_idx"
    " ON workflow_executions (workflow_id, started_at DESC)",
    "CREATE INDEX llm_calls_time_idx ON llm_calls (organization_id, created_at DESC)",
    "CREATE INDEX audit_logs_time_idx ON audit_logs (organization_id, created_at DESC)",
    "CREATE INDEX audit_logs_action_idx ON audit_logs (action)",
    "CREATE INDEX security_events_time_idx ON security_events (organization_id, created_at DESC)",
    "CREATE INDEX security_events_kind_idx ON security_events (kind)",
    "CREATE INDEX embeddings_scope_idx ON embeddings (organization_id, connection_id, kind)",
    "CREATE INDEX embeddings_vector_idx ON embeddings"
    " USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)",
]

_REFERENCE = re.compile(
    r"(?P<column>\w+) uuid(?P<rest>(?: NOT NULL)?(?: UNIQUE)?)\s+REFERENCES (?P<parent>\w+)\(id\)"
    r" ON DELETE (?P<action>CASCADE|SET NULL)"
)


def scoped_references(columns: str) -> tuple[str, list[str]]:
    """Column definitions without their REFERENCES, and foreign keys that include the
    organization: a row can then only point at a row of its own organization, whatever
    the code (or a guessed id) asks for. Foreign keys are checked without row-level
    security, so without this a row could reference another organization's row.
    """
    references = []

    def unscope(match: re.Match[str]) -> str:
        column, parent, action = match["column"], match["parent"], match["action"]
        on_delete = "CASCADE" if action == "CASCADE" else f"SET NULL ({column})"
        references.append(
            f"FOREIGN KEY (organization_id, {column}) REFERENCES {parent} (organization_id, id)"
            f" ON DELETE {on_delete}"
        )
        return f"{column} uuid{match['rest']}"

    return _REFERENCE.sub(unscope, columns), references


CURRENT_ORG = "NULLIF(current_setting('app.current_org', true), '')::uuid"


def app_role() -> str:
    return context.config.get_main_option("dana.app_role") or "dana_app"


def upgrade() -> None:
    role = app_role()
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """
        CREATE FUNCTION dana_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        """
        CREATE TABLE organizations (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            name text NOT NULL,
            slug text NOT NULL UNIQUE,
            plan text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'team', 'enterprise')),
            settings jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    _touch_trigger("organizations")
    _organization_policy()

    for table, columns in TENANT_TABLES.items():
        columns, references = scoped_references(columns)
        op.execute(
            f"""
            CREATE TABLE {table} (
                id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                {columns.strip()},
                UNIQUE (organization_id, id){"".join(f",{chr(10)}{r}" for r in references)}
            )
            """
        )
        op.execute(f"CREATE INDEX {table}_org_idx ON {table} (organization_id)")
        _touch_trigger(table)
        _tenant_policy(table)

    for statement in INDEXES:
        op.execute(statement)
    _lookup_policies()
    _app_role(role)


def _touch_trigger(table: str) -> None:
    op.execute(
        f"CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION dana_touch_updated_at()"
    )


def _organization_policy() -> None:
    # Enabled but not forced: the owner (migrations, key rotation) may list organizations;
    # the app's role sees only its own.
    op.execute("ALTER TABLE organizations ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY organization_isolation ON organizations "
        f"USING (id = {CURRENT_ORG}) WITH CHECK (id = {CURRENT_ORG})"
    )


def _tenant_policy(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY organization_isolation ON {table} "
        f"USING (organization_id = {CURRENT_ORG}) "
        f"WITH CHECK (organization_id = {CURRENT_ORG})"
    )


def _lookup_policies() -> None:
    # Signing in and checking an API key happen before the organization is known. These
    # read-only policies show exactly the one row the caller names, and nothing else.
    op.execute(
        "CREATE POLICY login_lookup ON users FOR SELECT USING ("
        "lower(email) = lower(NULLIF(current_setting('app.login_email', true), '')))"
    )
    op.execute(
        "CREATE POLICY key_lookup ON api_keys FOR SELECT USING ("
        "prefix = NULLIF(current_setting('app.api_key_prefix', true), ''))"
    )
    # The chat server learns a conversation's organization from its (random) id, then
    # checks its author before it reads anything more.
    op.execute(
        "CREATE POLICY conversation_lookup ON conversations FOR SELECT USING ("
        "id = NULLIF(current_setting('app.conversation_id', true), '')::uuid)"
    )
    op.execute(
        "CREATE POLICY slug_lookup ON organizations FOR SELECT USING ("
        "slug = NULLIF(current_setting('app.org_slug', true), ''))"
    )


def _app_role(role: str) -> None:
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
            END IF;
        END $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    # The schema's tables by name: ALL TABLES would include alembic_version, and the app
    # could then rewrite the migration history.
    tables = ", ".join(["organizations", *TENANT_TABLES])
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {role}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")


def downgrade() -> None:
    role = app_role()
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
    for table in reversed(list(TENANT_TABLES)):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP TABLE IF EXISTS organizations CASCADE")
    op.execute("DROP FUNCTION IF EXISTS dana_touch_updated_at()")
