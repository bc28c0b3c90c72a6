-- @module User feedback on gateway requests: one row per request and metric in `floopy.feedback`,
-- written by the Queue consumer (`src/logging/consumer.ts`) as one `INSERT … FORMAT JSONEachRow`
-- per batch (the feedback records of a batch; its request log records go in their own insert),
-- and `floopy.feedback_daily`, a view of the feedback per routing rule, target and day beside
-- the cost and latency of the requests it is about.
--
-- Written for, and tested on, ClickHouse 26.7 (`test/e2e/feedback-clickhouse.test.ts` runs it on
-- chDB). Every statement is idempotent (IF NOT EXISTS), so the file can be applied again safely,
-- and it is split at each `;` outside quotes and comments like the others
-- (`applyClickHouseMigrations` in `test/support/clickhouse.ts`). Apply it after 0001 (the view
-- reads `floopy.request_logs`) and before deploying a consumer that inserts feedback.
--
-- Idempotency, in the same two layers as the request log (0001_request_logs.sql explains them):
--   1. At insert time, `insert_deduplication_token` (one per batch, derived from the ids of the
--      batch's feedback messages) drops a batch delivered again; this needs the table setting
--      `non_replicated_deduplication_window`, set below as on request_logs.
--   2. At merge and read time, ReplacingMergeTree keeps one row per (org_id, request_id, metric):
--      here that is also the product's rule — feedback given again for the same request and metric
--      replaces the earlier one — so it serves both a record delivered twice and a user changing
--      their mind. Read with FINAL (or through the view) for exact counts.

-- One row per (organisation, request, metric) (`src/feedback/record.ts` builds the record; its
-- `kind` only tells it apart from request log records on the Queue and is not stored).
--
-- Sorting key (the deduplication key): (org_id, request_id, metric).
--   * ReplacingMergeTree treats rows as duplicates when their whole sorting key is equal, within
--     one partition. A repeated feedback names the same organisation, request and metric, so it
--     collapses with the earlier one after merges and under FINAL.
--   * Leading with org_id serves every query (one organisation at a time); the request comes next
--     so that every metric of a request sits together (the join with request_logs reads them by
--     request).
-- Version column: `created_at`, when the feedback arrived, so the *latest* feedback wins whatever
-- order the copies were inserted in (a late retry of an older record cannot bring it back). On a
-- tie the copy inserted last wins; a record delivered twice ties with an equal copy of itself.
-- Partition by month of the request (`request_at`), not of the feedback: `request_at` is a
-- property of the request, the same in every feedback on it, so all the rows that must collapse
-- land in one partition (ReplacingMergeTree never merges across partitions). Feedback arriving
-- days after its request still goes to the request's month, where the view's days are counted.
-- TTL: rows are deleted 400 days after the *request*, as the request's own log row is (0001).
-- The same trap holds: a feedback whose `request_at` is already older than 400 days is accepted
-- (HTTP 200) and gone moments later; a replay of old feedback must raise the TTL first:
--   ALTER TABLE floopy.feedback MODIFY TTL toDateTime(request_at) + INTERVAL 730 DAY
-- (with SETTINGS materialize_ttl_after_modify = 0 on a large table, as 0001 explains).
CREATE TABLE IF NOT EXISTS floopy.feedback
(
    -- `fb_…`: the id the feedback endpoint answered with.
    feedback_id String,
    org_id      LowCardinality(String),
    -- The request's id (`request_logs.request_id`).
    request_id  String,
    -- 'rating' unless the feedback named another metric of the organisation.
    metric      LowCardinality(String),
    -- The value as sent (a boolean is 1 or 0), and mapped onto [0, 1] by the metric's range: the
    -- reward routing learns from.
    value       Float64,
    reward      Float64,
    -- PII-scrubbed, at most 2,000 characters; '' when none. Free text: ZSTD, as the log's bodies.
    comment     String CODEC(ZSTD(3)),
    -- The routing rule that served the request ('' when none did) and the target, `provider/model`
    -- ('' for none; a cache hit names its origin).
    rule        LowCardinality(String),
    target      LowCardinality(String),
    cache_hit   Bool,
    -- When the request was served and when the feedback arrived, UTC, millisecond precision.
    request_at  DateTime64(3, 'UTC'),
    created_at  DateTime64(3, 'UTC'),
    -- Set by the server; the consumer does not send it.
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(request_at)
ORDER BY (org_id, request_id, metric)
TTL toDateTime(request_at) + INTERVAL 400 DAY
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000;

-- Feedback per organisation, routing rule, target and day of the request (UTC), beside the
-- requests' cost and latency from the request log: what a rule's targets earn, at what price.
--
-- A plain VIEW, computed at read time, not a materialized one: a materialized view sees each
-- inserted block, so a replaced feedback (same request and metric, a later value) would be counted
-- twice and its old value never taken back. Reading `floopy.feedback FINAL` keeps every figure
-- exact at any moment. The cost is reading the raw rows, which are few beside the request log.
--
-- Columns:
--   feedback_count   feedback rows (one per request and metric, the latest value of each)
--   requests         distinct requests with feedback
--   mean_reward      mean of `reward` over the feedback (in [0, 1], comparable across metrics)
--   mean_value       mean of `value` over the feedback, as sent: only meaningful when the rows
--                    share a metric (filter the table itself by `metric` otherwise)
--   logged_requests  of `requests`, those found in the request log (a log row that has not
--                    arrived yet, or has passed its TTL, is not; the feedback still counts)
--   mean_cost_usd    mean `cost_usd` of those requests with a known price (Float64; NULL when
--                    none has one), each request once however many metrics it has feedback on
--   mean_latency_ms  mean `latency_ms` of the logged requests, each once (NULL when none)
--
-- How duplicates stay out:
--   * `floopy.feedback FINAL`: a repeated feedback for the same request and metric is one row,
--     the latest.
--   * The feedback is first grouped per request, so the join meets each request once and a request
--     with feedback on two metrics weighs once in the cost and latency means.
--   * `floopy.request_logs FINAL`: a log record inserted twice in different batches is one row, so
--     the join cannot double a request's feedback.
-- The log side is restricted to the requests that have feedback, by (org_id, request_id): org_id
-- leads request_logs' sorting key and request_id has a bloom filter index, so most of the log is
-- skipped. The restriction is on sorting-key columns only, which every copy of a row shares, so it
-- cannot change which copy FINAL keeps. The join is on org_id as well as request_id: a request id
-- is the gateway's own, but a row of another organisation must never mix in.
-- LEFT JOIN: feedback on a request whose log row is missing still counts. An unmatched row gets
-- the column defaults ('' for request_id, 0 for latency_ms), hence the `-If` on a non-empty
-- request_id (every logged request has one).
CREATE VIEW IF NOT EXISTS floopy.feedback_daily AS
SELECT
    f.org_id AS org_id,
    f.rule AS rule,
    f.target AS target,
    f.day AS day,
    sum(f.feedback_count) AS feedback_count,
    count() AS requests,
    sum(f.reward_sum) / sum(f.feedback_count) AS mean_reward,
    sum(f.value_sum) / sum(f.feedback_count) AS mean_value,
    countIf(r.request_id != '') AS logged_requests,
    avgIfOrNull(r.cost_usd, r.request_id != '') AS mean_cost_usd,
    avgIfOrNull(r.latency_ms, r.request_id != '') AS mean_latency_ms
FROM
(
    SELECT
        org_id,
        request_id,
        rule,
        target,
        toDate(request_at) AS day,
        count() AS feedback_count,
        sum(reward) AS reward_sum,
        sum(value) AS value_sum
    FROM floopy.feedback FINAL
    GROUP BY org_id, request_id, rule, target, day
) AS f
LEFT JOIN
(
    SELECT org_id, request_id, cost_usd, latency_ms
    FROM floopy.request_logs FINAL
    WHERE (org_id, request_id) IN (SELECT org_id, request_id FROM floopy.feedback)
) AS r ON r.org_id = f.org_id AND r.request_id = f.request_id
GROUP BY org_id, rule, target, day;
