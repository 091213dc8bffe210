"""The database schema, created and migrated by versioned migration functions.

``PRAGMA user_version`` holds the number of migrations applied. Each migration is a
function of the writer connection, applied in order inside one transaction with the
version bump, so a crash mid-migration leaves the previous version intact. Migrations are
append-only: a released migration is never edited, a new one is added.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

import sqlite_utils

log = logging.getLogger(__name__)


def _run_script(db: sqlite_utils.Database, script: str) -> None:
    """Execute statements one by one inside the migration's transaction.

    ``sqlite3.executescript`` (and so sqlite-utils' ``executescript`` and ``enable_fts``)
    COMMITs any open transaction first, which would break the all-or-nothing migration.
    ``complete_statement`` finds statement ends, trigger bodies included.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            db.execute(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:80]}")


def _m001_core(db: sqlite_utils.Database) -> None:
    """Staff, contexts, contacts, conversations, messages, the event log and cursors."""
    _run_script(
        db,
        """
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
            password_hash TEXT,
            active INTEGER NOT NULL DEFAULT 1,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE teams (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE team_members (
            team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            PRIMARY KEY (team_id, user_id)
        );
        CREATE TABLE console_sessions (
            token_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            csrf TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        );
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            revoked INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE contexts (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('webinar', 'note', 'email', 'event', 'site')),
            title TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}',
            external_id TEXT UNIQUE,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE context_moderators (
            context_id TEXT NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            is_primary INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (context_id, user_id)
        );
        CREATE TABLE contacts (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT COLLATE NOCASE,
            verified INTEGER NOT NULL DEFAULT 0,
            owner_id TEXT REFERENCES users(id) ON DELETE SET NULL,
            external_id TEXT UNIQUE,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX contacts_email ON contacts(email);
        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            context_id TEXT REFERENCES contexts(id),
            contact_id TEXT REFERENCES contacts(id),
            channel TEXT NOT NULL DEFAULT 'widget',
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'pending', 'resolved')),
            assignee_user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
            assignee_team_id TEXT REFERENCES teams(id) ON DELETE SET NULL,
            priority TEXT NOT NULL DEFAULT 'none'
                CHECK (priority IN ('none', 'low', 'medium', 'high', 'urgent')),
            properties TEXT NOT NULL DEFAULT '{}',
            last_seq INTEGER NOT NULL DEFAULT 0,
            preview TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            last_activity_at INTEGER NOT NULL,
            last_customer_at INTEGER,
            last_staff_at INTEGER
        );
        CREATE INDEX conversations_activity ON conversations(last_activity_at DESC);
        CREATE INDEX conversations_status ON conversations(status, last_activity_at DESC);
        CREATE INDEX conversations_context ON conversations(context_id);
        CREATE INDEX conversations_contact ON conversations(contact_id);
        CREATE INDEX conversations_assignee ON conversations(assignee_user_id);
        CREATE TABLE conversation_tags (
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (conversation_id, tag)
        );
        CREATE INDEX conversation_tags_tag ON conversation_tags(tag);
        CREATE TABLE attendee_tokens (
            token_hash TEXT PRIMARY KEY,
            contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        );
        CREATE TABLE messages (
            -- AUTOINCREMENT: ids never come back after a delete, so the search index
            -- watermark (a messages.id) only ever moves forward.
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('message', 'note', 'event')),
            author_kind TEXT NOT NULL,
            author_id TEXT NOT NULL,
            author_name TEXT NOT NULL,
            body TEXT NOT NULL,
            attachments TEXT NOT NULL DEFAULT '[]',
            client_msg_id TEXT,
            in_reply_to INTEGER,
            data TEXT,
            internal INTEGER NOT NULL DEFAULT 0,
            -- Who really wrote it (a console reply may appear from the webinar's primary
            -- moderator): resends are recognised per writer, not per displayed author.
            sender_kind TEXT,
            sender_id TEXT,
            created_at INTEGER NOT NULL,
            edited_at INTEGER,
            deleted_at INTEGER,
            UNIQUE (conversation_id, seq),
            UNIQUE (conversation_id, sender_kind, sender_id, client_msg_id)
        );
        CREATE TABLE read_marks (
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            reader_kind TEXT NOT NULL,
            reader_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (conversation_id, reader_kind, reader_id)
        );
        CREATE TABLE attachments (
            id TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL,
            name TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
            uploaded_by_kind TEXT NOT NULL,
            uploaded_by_id TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            type TEXT NOT NULL,
            conversation_id TEXT,
            payload TEXT NOT NULL,
            ts INTEGER NOT NULL
        );
        CREATE TABLE cursors (
            name TEXT PRIMARY KEY,
            event_id INTEGER NOT NULL
        );
        CREATE TABLE settings_kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    )
    # Full-text search over message bodies (staff search): an external-content FTS5 table.
    # New messages are NOT indexed by a trigger: per-row FTS5 inserts cost ~70 us each on
    # the commit path (two thirds of a message write); the SearchIndexer indexes them in
    # batches (~1.5 us a row) after the commit, up to the watermark in ``cursors``
    # (name 'search_index', a messages.id). Edits and deletes of rows already indexed
    # are kept in sync by the triggers below.
    _run_script(
        db,
        """
        CREATE VIRTUAL TABLE messages_fts USING fts5 (
            body, content=[messages], content_rowid=[id], tokenize='unicode61'
        );
        CREATE TRIGGER messages_ad AFTER DELETE ON messages
        WHEN old.id <= (SELECT COALESCE(MAX(event_id), 0) FROM cursors WHERE name = 'search_index')
        BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, body)
                VALUES ('delete', old.id, old.body);
        END;
        CREATE TRIGGER messages_au AFTER UPDATE OF body ON messages
        WHEN old.id <= (SELECT COALESCE(MAX(event_id), 0) FROM cursors WHERE name = 'search_index')
        BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, body)
                VALUES ('delete', old.id, old.body);
            INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
        END;
        """,
    )


def _m002_slack_mail(db: sqlite_utils.Database) -> None:
    """Slack bridge and mailer: thread map, operation queue, inbox, activity log, mail outbox.

    ``slack_ops`` is the durable progress of every Slack operation (issue 4): the bridge
    turns events into rows here (unique ``key`` = idempotency key) and works them off in
    order per lane; ``in_doubt`` marks a post whose answer never came, so a retry first
    looks in Slack for it instead of posting twice.
    """
    _run_script(
        db,
        """
        ALTER TABLE messages ADD COLUMN emailed_at INTEGER;
        CREATE TABLE slack_threads (
            conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
            lane TEXT NOT NULL,
            channel_id TEXT,
            thread_ts TEXT,
            created_at INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX slack_threads_ts ON slack_threads(channel_id, thread_ts);
        CREATE TABLE slack_channels (
            context_id TEXT PRIMARY KEY REFERENCES contexts(id) ON DELETE CASCADE,
            channel_id TEXT NOT NULL,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE slack_ops (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            lane TEXT NOT NULL,
            conversation_id TEXT,
            kind TEXT NOT NULL,
            seq INTEGER,
            payload TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'done', 'held', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            in_doubt INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            result TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX slack_ops_lane ON slack_ops(lane, status, id);
        CREATE INDEX slack_ops_status ON slack_ops(status, id);
        CREATE TABLE slack_messages (
            channel_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            origin TEXT NOT NULL CHECK (origin IN ('out', 'in')),
            PRIMARY KEY (channel_id, ts)
        );
        CREATE INDEX slack_messages_seq ON slack_messages(conversation_id, seq);
        CREATE TABLE slack_inbox (
            event_id TEXT PRIMARY KEY,
            payload TEXT NOT NULL,
            received_at INTEGER NOT NULL,
            processed_at INTEGER
        );
        CREATE INDEX slack_inbox_pending ON slack_inbox(processed_at, received_at);
        CREATE TABLE integration_activity (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts INTEGER NOT NULL,
            integration TEXT NOT NULL,
            level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error')),
            action TEXT NOT NULL,
            conversation_id TEXT,
            ref TEXT,
            code TEXT,
            message TEXT NOT NULL,
            hint TEXT
        );
        CREATE INDEX integration_activity_level ON integration_activity(integration, level, id);
        CREATE TABLE mail_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            recipient TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'announced', 'dead', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            sent_at INTEGER,
            UNIQUE (conversation_id, seq)
        );
        CREATE INDEX mail_outbox_status ON mail_outbox(status, id);
        """,
    )


def _m003_webhooks(db: sqlite_utils.Database) -> None:
    """Outgoing webhooks: endpoints, one delivery per (event, endpoint), and every attempt."""
    _run_script(
        db,
        """
        CREATE TABLE webhook_endpoints (
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            event_types TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1,
            method TEXT NOT NULL DEFAULT 'POST',
            content_type TEXT NOT NULL DEFAULT 'application/json',
            auth_header TEXT,
            secret TEXT NOT NULL,
            disabled_reason TEXT,
            after_event INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE webhook_deliveries (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
            event_id INTEGER NOT NULL,
            event_type TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (event_id, endpoint_id)
        );
        CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, seq);
        CREATE INDEX webhook_deliveries_state ON webhook_deliveries(state, seq);
        CREATE TABLE webhook_attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
            attempt INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            url TEXT NOT NULL,
            response_status INTEGER,
            response_excerpt TEXT,
            duration_ms INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            error TEXT,
            retry_in REAL
        );
        CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, id);
        """,
    )


def _m004_recipes(db: sqlite_utils.Database) -> None:
    """Automation recipes (issue 5): definitions and versions, business hours, saved inbox
    filters, runs (one per recipe and trigger: the at-most-once key), durable timers,
    notifications, staff mail, drafted and to-be-approved replies, blocked contacts, and
    webhook endpoints owned by a recipe's webhook action."""
    _run_script(
        db,
        """
        CREATE TABLE business_hours (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            definition TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE saved_filters (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            filters TEXT NOT NULL,
            created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE recipes (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('new_item', 'update')),
            enabled INTEGER NOT NULL DEFAULT 1,
            version INTEGER NOT NULL,
            definition TEXT NOT NULL,
            after_event INTEGER NOT NULL DEFAULT 0,
            deleted_at INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE recipe_versions (
            recipe_id TEXT NOT NULL REFERENCES recipes(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            definition TEXT NOT NULL,
            created_by TEXT,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (recipe_id, version)
        );
        CREATE TABLE recipe_runs (
            id TEXT PRIMARY KEY,
            recipe_id TEXT NOT NULL REFERENCES recipes(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
            trigger_key TEXT NOT NULL,
            depth INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN ('running', 'done', 'skipped', 'failed')),
            matched TEXT NOT NULL DEFAULT '[]',
            plan TEXT NOT NULL DEFAULT '[]',
            results TEXT NOT NULL DEFAULT '[]',
            reason TEXT,
            created_at INTEGER NOT NULL,
            finished_at INTEGER,
            UNIQUE (recipe_id, trigger_key)
        );
        CREATE INDEX recipe_runs_recipe ON recipe_runs(recipe_id, created_at DESC);
        CREATE INDEX recipe_runs_conversation ON recipe_runs(conversation_id, created_at);
        CREATE INDEX recipe_runs_running ON recipe_runs(state) WHERE state = 'running';
        CREATE TABLE recipe_timers (
            recipe_id TEXT NOT NULL REFERENCES recipes(id) ON DELETE CASCADE,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            due_at INTEGER NOT NULL,
            anchor_at INTEGER NOT NULL,
            anchor_event INTEGER NOT NULL,
            PRIMARY KEY (recipe_id, conversation_id)
        );
        CREATE INDEX recipe_timers_due ON recipe_timers(due_at);
        CREATE TABLE recipe_counters (
            recipe_id TEXT NOT NULL REFERENCES recipes(id) ON DELETE CASCADE,
            action_index INTEGER NOT NULL,
            matched INTEGER NOT NULL DEFAULT 0,
            last_sent_at INTEGER,
            PRIMARY KEY (recipe_id, action_index)
        );
        CREATE TABLE round_robin (
            team_id TEXT PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
            last_user_id TEXT,
            updated_at INTEGER NOT NULL
        );
        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            recipe_id TEXT,
            conversation_id TEXT,
            title TEXT NOT NULL,
            body TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL,
            read_at INTEGER,
            UNIQUE (user_id, key)
        );
        CREATE INDEX notifications_user ON notifications(user_id, id DESC);
        CREATE TABLE staff_mail (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            user_id TEXT,
            recipient TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            sent_at INTEGER
        );
        CREATE INDEX staff_mail_status ON staff_mail(status, id);
        CREATE TABLE recipe_replies (
            id TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            recipe_id TEXT REFERENCES recipes(id) ON DELETE SET NULL,
            run_id TEXT NOT NULL,
            action_index INTEGER NOT NULL,
            mode TEXT NOT NULL CHECK (mode IN ('draft', 'approval')),
            body TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'waiting'
                CHECK (state IN ('waiting', 'sent', 'discarded')),
            decided_by TEXT REFERENCES users(id) ON DELETE SET NULL,
            decided_at INTEGER,
            sent_seq INTEGER,
            created_at INTEGER NOT NULL,
            UNIQUE (run_id, action_index)
        );
        CREATE INDEX recipe_replies_waiting ON recipe_replies(state, mode, created_at);
        CREATE INDEX recipe_replies_conversation ON recipe_replies(conversation_id, state);
        ALTER TABLE contacts ADD COLUMN blocked_at INTEGER;
        ALTER TABLE webhook_endpoints ADD COLUMN recipe_id TEXT
            REFERENCES recipes(id) ON DELETE CASCADE;
        ALTER TABLE webhook_endpoints ADD COLUMN action_index INTEGER;
        ALTER TABLE webhook_endpoints ADD COLUMN fields TEXT;
        CREATE INDEX webhook_endpoints_recipe ON webhook_endpoints(recipe_id);
        """,
    )


#: Applied in order; the list index + 1 is the schema version after the migration.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _m001_core,
    _m002_slack_mail,
    _m003_webhooks,
    _m004_recipes,
]


def version(conn: sqlite3.Connection) -> int:
    """The schema version of an open database (0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to the newest version; return how many migrations ran.

    Raises:
        RuntimeError: the database is newer than this code (a downgrade), which would
            silently misread data.
    """
    current = version(conn)
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"database schema version {current} is newer than this Switchboard "
            f"({len(MIGRATIONS)}); upgrade Switchboard instead"
        )
    db = sqlite_utils.Database(conn)
    ran = 0
    for number in range(current, len(MIGRATIONS)):
        migration = MIGRATIONS[number]
        conn.execute("BEGIN IMMEDIATE")
        try:
            migration(db)
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        log.info("schema.migrated to=%d name=%s", number + 1, migration.__name__)
        ran += 1
    return ran
