-- Version 1 of the SQLite store: the schema as it was before schema versions existed.  Every
-- statement is written "IF NOT EXISTS" because a store made before versions has these tables
-- without a schema_version table: it is recognised as version 1 and this step must be harmless
-- on it.  The connection's pragmas (WAL, synchronous, auto_vacuum, foreign keys) are not steps:
-- gateway/store/store_sqlite.c sets them at every open.
CREATE TABLE IF NOT EXISTS records(
 seq INTEGER PRIMARY KEY AUTOINCREMENT,
 message_id TEXT NOT NULL UNIQUE,
 kind TEXT NOT NULL, sender TEXT NOT NULL, source_message_id TEXT, body_digest TEXT,
 recorded_at INTEGER NOT NULL, canonical TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS facts(
 id INTEGER PRIMARY KEY, record_seq INTEGER NOT NULL REFERENCES records(seq),
 subject TEXT NOT NULL, type TEXT NOT NULL, valid_from INTEGER, valid_to INTEGER,
 attributes TEXT NOT NULL, department TEXT NOT NULL, message_id TEXT NOT NULL,
 recorded_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS facts_subject ON facts(subject, type);
CREATE TABLE IF NOT EXISTS eligibility(
 person TEXT NOT NULL, service TEXT NOT NULL, eligible INTEGER NOT NULL, since INTEGER,
 tier TEXT, amount INTEGER, record_seq INTEGER REFERENCES records(seq), updated_at INTEGER NOT NULL,
 PRIMARY KEY (person, service)) WITHOUT ROWID;
-- envelopes exchanged with peer gateways, signature included, as sent or received: what this
-- gateway can show it sent and was sent
CREATE TABLE IF NOT EXISTS envelopes(id INTEGER PRIMARY KEY, record_seq INTEGER, peer TEXT NOT NULL,
 message_id TEXT NOT NULL, digest TEXT NOT NULL, body BLOB NOT NULL, received_at INTEGER NOT NULL,
 direction TEXT NOT NULL DEFAULT 'received' CHECK (direction IN ('sent', 'received')));
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
-- The transition log the administrators read (recent transitions by service and district, a
-- person's history); retention.transitions_days prunes it.
CREATE TABLE IF NOT EXISTS transitions(
 id INTEGER PRIMARY KEY, at INTEGER NOT NULL, person TEXT NOT NULL, service TEXT NOT NULL,
 kind TEXT NOT NULL, eligible INTEGER NOT NULL, tier TEXT, amount INTEGER, hukou_region TEXT,
 residence_region TEXT, explanation TEXT, cause TEXT, record_seq INTEGER);
CREATE INDEX IF NOT EXISTS transitions_person ON transitions(person);
CREATE INDEX IF NOT EXISTS transitions_service ON transitions(service);
CREATE INDEX IF NOT EXISTS transitions_at ON transitions(at);
CREATE TABLE IF NOT EXISTS outbox(
 id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, recipient TEXT NOT NULL, kind TEXT NOT NULL,
 media_type TEXT NOT NULL, person TEXT NOT NULL DEFAULT '', body BLOB NOT NULL,
 record_seq INTEGER REFERENCES records(seq),
 state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
 attempts INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, next_at INTEGER NOT NULL,
 delivered_at INTEGER, last_error TEXT, cause TEXT, UNIQUE (recipient, event_id));
-- Only pending messages are indexed, so delivering one removes index entries instead of moving
-- them, and the indexes stay as small as the backlog.  outbox_person: a person's oldest pending
-- message (ordering); outbox_queue: a recipient's pending messages in id order, so the due
-- queries stop at their limit instead of scanning every delivered message or sorting a long
-- backlog.  outbox_pending is what an older store had instead.
DROP INDEX IF EXISTS outbox_pending;
CREATE INDEX IF NOT EXISTS outbox_person ON outbox(recipient, person, state) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox(recipient, id) WHERE state = 'pending';
-- the dead letters per recipient, counted every second by the dashboard
CREATE INDEX IF NOT EXISTS outbox_dead ON outbox(recipient) WHERE state = 'dead';
