-- Version 2 of the SQLite store: what each person was disclosed (docs/disclosure.md).  An outbox
-- message now keeps the rule it went out on — `subscription DEPT/N` (a department's Nth
-- subscription), `agreement PEER` (a peer gateway's agreement) or `service CODE` (an eligibility
-- notice to a department the service names) — so a person's disclosure report says why each
-- department or gateway received what it did, under the configuration of that day.  Messages from
-- before keep NULL ("not recorded").  Two indexes find a person's messages without reading the
-- whole outbox: by the record that caused them (record_seq grows, so the index is appended to),
-- and a person's eligibility notices.
ALTER TABLE outbox ADD COLUMN basis TEXT;
CREATE INDEX IF NOT EXISTS outbox_record ON outbox(record_seq) WHERE record_seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_notices ON outbox(person) WHERE kind = 'eligibility';
