-- Version 1 of the PostgreSQL store: the tables of the SQLite store's version 1, with the same
-- meaning in PostgreSQL's types.  Times are microseconds since the epoch (BIGINT, msgw_time),
-- dates are day numbers (INTEGER, msgw_date), money is integer fen (BIGINT), bodies are bytes
-- (BYTEA), ids grow with each row (identity columns).  The person and service a verdict is kept
-- under sort byte by byte (COLLATE "C"), as SQLite sorts them, whatever the server's locale.
CREATE TABLE records(
 seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
 message_id TEXT NOT NULL UNIQUE,
 kind TEXT NOT NULL, sender TEXT NOT NULL, source_message_id TEXT, body_digest TEXT,
 recorded_at BIGINT NOT NULL, canonical TEXT NOT NULL);
CREATE TABLE facts(
 id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
 record_seq BIGINT NOT NULL REFERENCES records(seq),
 subject TEXT NOT NULL, type TEXT NOT NULL, valid_from INTEGER, valid_to INTEGER,
 attributes TEXT NOT NULL, department TEXT NOT NULL, message_id TEXT NOT NULL,
 recorded_at BIGINT NOT NULL);
CREATE INDEX facts_subject ON facts(subject, type);
-- a record's facts (its trace, retention of records: PostgreSQL does not index a foreign key
-- for the referencing side)
CREATE INDEX facts_record ON facts(record_seq);
CREATE TABLE eligibility(
 person TEXT COLLATE "C" NOT NULL, service TEXT COLLATE "C" NOT NULL, eligible BOOLEAN NOT NULL,
 since INTEGER, tier TEXT, amount BIGINT, record_seq BIGINT REFERENCES records(seq),
 updated_at BIGINT NOT NULL, PRIMARY KEY (person, service));
CREATE INDEX eligibility_record ON eligibility(record_seq);
-- envelopes exchanged with peer gateways, signature included, as sent or received: what this
-- gateway can show it sent and was sent
CREATE TABLE envelopes(
 id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, record_seq BIGINT, peer TEXT NOT NULL,
 message_id TEXT NOT NULL, digest TEXT NOT NULL, body BYTEA NOT NULL, received_at BIGINT NOT NULL,
 direction TEXT NOT NULL DEFAULT 'received' CHECK (direction IN ('sent', 'received')));
CREATE INDEX envelopes_record ON envelopes(record_seq);
CREATE TABLE meta(key TEXT PRIMARY KEY, value BIGINT NOT NULL);
-- The transition log the administrators read (recent transitions by service and district, a
-- person's history); retention.transitions_days prunes it.
CREATE TABLE transitions(
 id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, person TEXT NOT NULL,
 service TEXT NOT NULL, kind TEXT NOT NULL, eligible BOOLEAN NOT NULL, tier TEXT, amount BIGINT,
 hukou_region TEXT, residence_region TEXT, explanation TEXT, cause TEXT, record_seq BIGINT);
CREATE INDEX transitions_person ON transitions(person);
CREATE INDEX transitions_service ON transitions(service);
CREATE INDEX transitions_at ON transitions(at);
CREATE TABLE outbox(
 id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id TEXT NOT NULL,
 recipient TEXT NOT NULL, kind TEXT NOT NULL, media_type TEXT NOT NULL,
 person TEXT NOT NULL DEFAULT '', body BYTEA NOT NULL, record_seq BIGINT REFERENCES records(seq),
 state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
 attempts INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, next_at BIGINT NOT NULL,
 delivered_at BIGINT, last_error TEXT, cause TEXT, UNIQUE (recipient, event_id));
-- Only pending messages are indexed, as in SQLite: outbox_person finds a person's oldest
-- pending message (ordering), outbox_queue a recipient's pending messages in id order, so the
-- due queries stop at their limit; outbox_dead counts the dead letters per recipient.
CREATE INDEX outbox_person ON outbox(recipient, person, id) WHERE state = 'pending';
CREATE INDEX outbox_queue ON outbox(recipient, id) WHERE state = 'pending';
CREATE INDEX outbox_dead ON outbox(recipient) WHERE state = 'dead';
-- the messages a record caused (retention of records keeps the records they refer to)
CREATE INDEX outbox_record ON outbox(record_seq);
