-- Version 2 of the PostgreSQL store: several gateway instances over one database (docs/cluster.md).
-- Every instance stores the records pushed to it; one, the holder of the lease named 'evaluator',
-- evaluates them, in an order of its own: evaluated_seq, taken from evaluation_seq as it commits
-- what they caused (a record stored by another instance is evaluated by the next commit of the
-- evaluator after it).  That order, not seq, is the order of the engine's replay: an instance
-- that does not evaluate follows it, and one that takes the lease over continues it.  The records
-- stored before this version were evaluated as they were stored, in seq order.
ALTER TABLE records ADD COLUMN evaluated_seq BIGINT, ADD COLUMN evaluated_at BIGINT;
UPDATE records SET evaluated_seq = seq, evaluated_at = recorded_at;
CREATE SEQUENCE evaluation_seq;
SELECT setval('evaluation_seq', coalesce(max(seq), 0) + 1, false) FROM records;
CREATE UNIQUE INDEX records_evaluated ON records(evaluated_seq);
CREATE INDEX records_unevaluated ON records(seq) WHERE evaluated_seq IS NULL;
-- Leases: a name (the work one instance of the cluster does), its holder, until when (the
-- server's clock, microseconds), and its epoch, which grows each time another instance takes it:
-- the evaluator's commits check they still hold the epoch they took (fencing).
CREATE TABLE leases(
 name TEXT PRIMARY KEY, holder TEXT, epoch BIGINT NOT NULL DEFAULT 0,
 expires_at BIGINT NOT NULL DEFAULT 0, acquired_at BIGINT);
-- The instances, each refreshing its row as it renews its leases: who is there, since when, and
-- how far its engine has followed the order of evaluation (the admin view, /metrics).
CREATE TABLE instances(
 name TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, started_at BIGINT NOT NULL,
 heartbeat_at BIGINT NOT NULL, role TEXT NOT NULL, evaluated_through BIGINT NOT NULL DEFAULT 0,
 stopped BOOLEAN NOT NULL DEFAULT false);
