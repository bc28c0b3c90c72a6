-- @module The request log: one row per gateway request in `floopy.request_logs`, written by the
-- Queue consumer (`src/logging/consumer.ts`) as one `INSERT … FORMAT JSONEachRow` per batch, and
-- a per-organisation daily usage rollup kept by a materialized view.
--
-- Written for, and tested on, ClickHouse 26.7 (`test/e2e/clickhouse.test.ts` runs it on chDB).
-- Every statement is idempotent (IF NOT EXISTS), so the file can be applied again safely.
-- The HTTP interface runs one statement per request: a runner splits the file at each `;` outside
-- quotes and comments (as `applyClickHouseMigrations` in `test/support/clickhouse.ts` does).
--
-- Idempotency, in two layers
--   1. At insert time. The consumer sends `insert_deduplication_token` (one token per batch,
--      derived from the batch's message ids) with every insert. A batch delivered again — the
--      insert succeeded but the acknowledgement was lost — carries the same token, and ClickHouse
--      drops the whole block, so not even a plain `SELECT` without FINAL sees it twice, and the
--      materialized view does not see it either. On a non-replicated MergeTree this needs the table
--      setting `non_replicated_deduplication_window` (0, the default, turns it off); it is set
--      below. The window is counted in inserted blocks: the tokens of the last 10000 blocks are
--      kept. Replicated engines (and ClickHouse Cloud's Shared ones) use
--      `replicated_deduplication_window` instead, 10000 by default too, but also bounded in time
--      (`replicated_deduplication_window_seconds`, one hour by default). The materialized view's
--      target table is deduplicated the same way, which also needs the query setting
--      `deduplicate_blocks_in_dependent_materialized_views = 1`: the default in ClickHouse 26.7 but
--      0 in older releases, so the consumer should send it explicitly.
--   2. At merge and read time. A record that reaches ClickHouse twice in *different* batches (a
--      message retried into another batch, a dead-letter replay long after the window) has a
--      different token, so both rows are written. `ReplacingMergeTree` collapses rows with equal
--      sorting keys when parts merge, and `SELECT … FINAL` collapses them at read time, so
--      `count()` over `FINAL` is exact at any moment and plain `count()` becomes exact once parts
--      have merged.

CREATE DATABASE IF NOT EXISTS floopy;

-- One row per gateway request (`src/logging/record.ts` builds it).
--
-- Sorting key (the deduplication key): (org_id, toDate(timestamp), request_id).
--   * ReplacingMergeTree treats rows as duplicates when their whole sorting key is equal, within
--     one partition. The key must therefore identify a request, and both the partition and the key
--     must be functions of the request alone. `timestamp` is the request's start, stamped once by
--     the gateway and carried unchanged by every retry and replay of its record, and `org_id` is
--     fixed per request, so (org_id, day, request_id) identifies a request exactly as request_id
--     does: "the same request_id twice → one row" holds after merges and with FINAL. (A writer that
--     re-stamped `timestamp` on retry would break this across days and months; none does.)
--   * Leading with org_id then day serves every dashboard query (one organisation, a period):
--     the primary index skips other organisations and days. A condition on `timestamp` is applied
--     to `toDate(timestamp)` by the index because toDate is monotonic. (org_id, timestamp,
--     request_id) would hold under the same rule, but it makes the exact millisecond part of a
--     request's identity, where the day is all that queries filter on.
--   * request_id is last only to make the key unique; lookups by request id alone (support) use
--     the bloom filter index instead of scanning every organisation's rows.
-- Version column: `inserted_at`, so when duplicates collapse the most recently inserted copy
-- wins (they are equal in every other column anyway).
-- Partition by month of the request: few partitions (ClickHouse advises against thousands), whole
-- months dropped by TTL, and duplicates of a request always land in the same partition.
-- TTL: rows are deleted 400 days after the request (13 months and a bit, so a year-over-year
-- monthly report still has a full month to compare). TTL needs a DateTime, hence toDateTime.
--   To change it (here to two years):
--     ALTER TABLE floopy.request_logs MODIFY TTL toDateTime(timestamp) + INTERVAL 730 DAY
--   By default that rewrites every part at once to apply the new TTL
--   (`materialize_ttl_after_modify = 1`); on a large table add
--   SETTINGS materialize_ttl_after_modify = 0, and later, in a quiet hour, run
--     ALTER TABLE floopy.request_logs MATERIALIZE TTL
--   TRAP: the TTL also applies to *new* rows. An insert whose `timestamp` is already older than
--   400 days succeeds (HTTP 200, no error), and its rows are gone moments later, with no OPTIMIZE
--   (on 26.7: removed as the part is written, or by the TTL merge that starts right after it).
--   A backfill or a dead-letter replay of old records must raise the TTL first. The materialized
--   view below still counts such rows: it sees the inserted block before the TTL removes it.
-- Bodies: ZSTD compresses JSON text far better than the default LZ4, and bodies are most of the
-- bytes; they are read rarely (one request at a time), so the slower decompression does not matter.
CREATE TABLE IF NOT EXISTS floopy.request_logs
(
    request_id          String,
    -- Request start, UTC, millisecond precision.
    timestamp           DateTime64(3, 'UTC'),
    org_id              LowCardinality(String),
    key_id              String,
    -- 'chat' | 'embeddings'
    endpoint            LowCardinality(String),
    provider            LowCardinality(String),
    model_requested     String,
    model_served        String,
    status              UInt16,
    -- '' when the request succeeded; else the gateway's error code.
    error_code          LowCardinality(String),
    stream              Bool,
    -- Total time in the gateway; time to the provider's response headers, from the request's
    -- start and from the upstream call's start (NULL when no provider answered).
    latency_ms          Float64,
    ttfb_ms             Nullable(Float64),
    upstream_latency_ms Nullable(Float64),
    attempts            UInt8,
    prompt_tokens       UInt32,
    completion_tokens   UInt32,
    cached_tokens       UInt32,
    reasoning_tokens    UInt32,
    -- NULL means the price is unknown (model not in the price table), never free: sums skip it
    -- and `unpriced_requests` in the rollup counts it. Decimal, not Float64, so sums are exact to
    -- the nano-dollar; 18 digits leave 9 for whole dollars per request.
    cost_usd            Nullable(Decimal(18, 9)),
    price_version       LowCardinality(String),
    -- The gateway writes upper case: 'HIT' counts as a cache hit in the rollup.
    cache_status        LowCardinality(String),
    firewall_verdict    LowCardinality(String),
    user_agent          String,
    -- Keyed hash (HMAC-SHA-256) of the client IP, hex; '' when not configured.
    client_ip_hash      String,
    -- Scrubbed JSON text; '' for organisations logging metadata only.
    request_body        String CODEC(ZSTD(3)),
    response_body       String CODEC(ZSTD(3)),
    metadata            Map(String, String),
    -- Set by the server; the consumer does not send it.
    inserted_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX request_id_bloom request_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (org_id, toDate(timestamp), request_id)
TTL toDateTime(timestamp) + INTERVAL 400 DAY
SETTINGS index_granularity = 8192, non_replicated_deduplication_window = 10000;

-- Per-organisation daily usage (UTC days), kept up to date by the materialized view below.
--
-- A materialized view is an insert trigger: it aggregates each inserted block, never the table.
-- So it sees every row that is inserted, including a duplicate that ReplacingMergeTree will later
-- collapse in request_logs. Caveat, and how each column copes:
--   * A batch re-sent with the same deduplication token is dropped before the view sees it (this
--     table has its own `non_replicated_deduplication_window`, and the insert's
--     `deduplicate_blocks_in_dependent_materialized_views = 1`): every column stays exact.
--   * A request inserted twice in different batches reaches the view twice. The counts are
--     therefore states of uniqExact over request ids (a set union ignores the second copy), and
--     stay exact: requests, unpriced_requests, cache_hits, errors. Exactness costs memory, some
--     16 to 32 bytes per request in each day's state; for very large organisations uniqCombined
--     (approximate, fixed size) is the alternative.
--   * Token and cost sums cannot be made duplicate-proof this way and count such a request twice.
--     Billing-grade figures come from `floopy.org_daily_usage_exact_v` (below), which reads
--     request_logs with FINAL; comparing the two views detects the drift.
-- AggregatingMergeTree (not SummingMergeTree) because uniqExact needs aggregate states; the sums
-- use SimpleAggregateFunction, which stores a plain number.
-- No TTL: a row per organisation per day is tiny, and usage history outlives the raw log.
CREATE TABLE IF NOT EXISTS floopy.org_daily_usage
(
    day               Date,
    org_id            LowCardinality(String),
    requests          AggregateFunction(uniqExact, String),
    prompt_tokens     SimpleAggregateFunction(sum, UInt64),
    completion_tokens SimpleAggregateFunction(sum, UInt64),
    -- Sum of the known costs; NULL while no request of the day had a known price.
    cost_usd          AggregateFunction(sum, Nullable(Decimal(18, 9))),
    -- Requests whose cost is unknown (cost_usd IS NULL): cost_usd is a lower bound when > 0.
    unpriced_requests AggregateFunction(uniqExact, String),
    cache_hits        AggregateFunction(uniqExact, String),
    -- Requests answered with an HTTP status of 400 or more.
    errors            AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (org_id, day)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS floopy.org_daily_usage_mv TO floopy.org_daily_usage AS
SELECT
    -- Columns are qualified (`r.`) because the output aliases reuse their names: unqualified,
    -- `cost_usd IS NULL` would mean the sumState alias, not the column.
    toDate(r.timestamp) AS day,
    r.org_id AS org_id,
    uniqExactState(r.request_id) AS requests,
    sum(r.prompt_tokens) AS prompt_tokens,
    sum(r.completion_tokens) AS completion_tokens,
    sumState(r.cost_usd) AS cost_usd,
    -- -StateIf (not -IfState) keeps the column type AggregateFunction(uniqExact, String).
    uniqExactStateIf(r.request_id, r.cost_usd IS NULL) AS unpriced_requests,
    uniqExactStateIf(r.request_id, r.cache_status = 'HIT') AS cache_hits,
    uniqExactStateIf(r.request_id, r.status >= 400) AS errors
FROM floopy.request_logs AS r
GROUP BY day, org_id;

-- The rollup as numbers. Parts of org_daily_usage merge in the background, so one day can be
-- spread over several rows until they do; this view merges the states and sums the sums, and is
-- the only correct way to read the table.
CREATE VIEW IF NOT EXISTS floopy.org_daily_usage_v AS
SELECT
    day,
    org_id,
    uniqExactMerge(requests) AS requests,
    sum(prompt_tokens) AS prompt_tokens,
    sum(completion_tokens) AS completion_tokens,
    sumMerge(cost_usd) AS cost_usd,
    uniqExactMerge(unpriced_requests) AS unpriced_requests,
    uniqExactMerge(cache_hits) AS cache_hits,
    uniqExactMerge(errors) AS errors
FROM floopy.org_daily_usage
GROUP BY day, org_id;

-- The same figures computed from request_logs with FINAL: exact even for requests inserted twice
-- in different batches, at the price of reading the raw rows (and only those still within the
-- TTL). For billing and for checking the rollup; the columns match org_daily_usage_v's.
CREATE VIEW IF NOT EXISTS floopy.org_daily_usage_exact_v AS
SELECT
    toDate(r.timestamp) AS day,
    r.org_id AS org_id,
    count() AS requests,
    sum(r.prompt_tokens) AS prompt_tokens,
    sum(r.completion_tokens) AS completion_tokens,
    sum(r.cost_usd) AS cost_usd,
    countIf(r.cost_usd IS NULL) AS unpriced_requests,
    countIf(r.cache_status = 'HIT') AS cache_hits,
    countIf(r.status >= 400) AS errors
FROM floopy.request_logs AS r FINAL
GROUP BY day, org_id;
