-- Version 3 of the PostgreSQL store: what each person was disclosed (docs/disclosure.md).  An
-- outbox message now keeps the rule it went out on — `subscription DEPT/N`, `agreement PEER` or
-- `service CODE` — so a person's disclosure report says why each recipient received what it did;
-- messages from before keep NULL ("not recorded").  The record that caused a message is indexed
-- since version 1 (outbox_record); a person's eligibility notices get an index of their own.
ALTER TABLE outbox ADD COLUMN basis TEXT;
CREATE INDEX outbox_notices ON outbox(person) WHERE kind = 'eligibility';
