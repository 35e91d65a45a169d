-- schema v1: conversations as message trees, full-text search, recent models, training runs.
-- Applied inside one transaction by app/storage/Migrations.cpp, which then sets PRAGMA user_version = 1.

CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY,
    title           TEXT    NOT NULL,
    system_prompt   TEXT    NOT NULL DEFAULT '',
    sampling_json   TEXT    NOT NULL DEFAULT '{}',
    model_path      TEXT    NOT NULL DEFAULT '',
    current_leaf_id INTEGER,                       -- the branch shown when the chat is reopened
    created_at      INTEGER NOT NULL,              -- unix ms
    updated_at      INTEGER NOT NULL
);
CREATE INDEX conversations_updated ON conversations(updated_at DESC);

-- Messages form a tree: an edit or a regenerate adds a sibling (same parent_id), never overwrites.
CREATE TABLE messages (
    id               INTEGER PRIMARY KEY,
    conversation_id  INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    parent_id        INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    role             TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content          TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'done'
                     CHECK (status IN ('done', 'streaming', 'stopped', 'interrupted', 'error')),
    tokens           INTEGER NOT NULL DEFAULT 0,   -- generated tokens (assistant) or prompt tokens
    seconds          REAL    NOT NULL DEFAULT 0,   -- generation time
    prefill_tps      REAL    NOT NULL DEFAULT 0,
    decode_tps       REAL    NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
);
CREATE INDEX messages_tree ON messages(conversation_id, parent_id);

-- Full-text search over message text (external-content FTS5 table kept in step by triggers).
CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='id');
CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;

CREATE TABLE models (
    path          TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    architecture  TEXT NOT NULL DEFAULT '',
    params        INTEGER NOT NULL DEFAULT 0,
    last_opened   INTEGER NOT NULL
);

CREATE TABLE training_runs (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    model_path   TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL DEFAULT 'created',
    steps        INTEGER NOT NULL DEFAULT 0,
    final_loss   REAL,
    output_path  TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
);
