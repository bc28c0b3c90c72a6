-- @module The prompt template a request was resolved from, on its log row (`floopy-prompt-id`,
-- and the version number actually used; `docs/prompts.md`). Rows written before this migration
-- read as '' and 0: no prompt.
--
-- Idempotent (IF NOT EXISTS), like every migration here. Apply it before deploying a gateway that
-- sends these fields: JSONEachRow refuses a row with a column the table does not have.

ALTER TABLE floopy.request_logs
    ADD COLUMN IF NOT EXISTS prompt_id LowCardinality(String) DEFAULT '' AFTER firewall_verdict,
    ADD COLUMN IF NOT EXISTS prompt_version UInt32 DEFAULT 0 AFTER prompt_id;
