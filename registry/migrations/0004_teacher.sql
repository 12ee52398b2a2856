-- Teacher collection: every call to a teacher model, Batch API jobs, synthesized prompts.
-- A call row and the conversation made from its answer are written in one transaction.

CREATE TABLE t_teacher_call (
    fingerprint       VARCHAR NOT NULL,   -- hash of model + parameters + messages + sample index
    request_id        VARCHAR,            -- groups the samples answered by one HTTP request or batch line
    sample_index      INTEGER NOT NULL,
    model             VARCHAR NOT NULL,
    base_url          VARCHAR,
    parameters        JSON,
    messages          JSON NOT NULL,
    status            VARCHAR NOT NULL,   -- ok | truncated | failed
    content           VARCHAR,
    raw_response      JSON,               -- the response body (only this sample's choice)
    finish_reason     VARCHAR,
    prompt_tokens     BIGINT,             -- this row's share: sums over rows equal what was billed
    completion_tokens BIGINT,
    cost_usd          DOUBLE,
    latency_s         DOUBLE,
    attempts          INTEGER,
    http_status       INTEGER,
    error             VARCHAR,
    mode              VARCHAR NOT NULL,   -- online | batch
    batch_id          VARCHAR,
    source            VARCHAR,
    conversation_id   VARCHAR,
    run_id            VARCHAR NOT NULL,
    created_at        TIMESTAMP NOT NULL
);

CREATE TABLE t_teacher_batch (
    id             VARCHAR PRIMARY KEY,   -- the provider's batch id
    base_url       VARCHAR,
    model          VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    input_file_id  VARCHAR NOT NULL,
    part           INTEGER NOT NULL,      -- which split of the input (files stay under 100 MB)
    n_requests     INTEGER NOT NULL,
    status         VARCHAR NOT NULL,      -- provider status, then 'collected'
    output_file_id VARCHAR,
    error_file_id  VARCHAR,
    requests       JSON NOT NULL,         -- custom_id -> request plan, to ingest after any restart
    run_id         VARCHAR NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    collected_at   TIMESTAMP
);

CREATE TABLE t_teacher_prompt (
    id               VARCHAR NOT NULL,    -- hash of task + text
    task             VARCHAR NOT NULL,
    text             VARCHAR NOT NULL,
    accepted         BOOLEAN NOT NULL,
    reason           VARCHAR,             -- why it was rejected
    score            DOUBLE,              -- highest ROUGE-L against seeds, accepted or eval items
    nearest          VARCHAR,
    template_version VARCHAR NOT NULL,
    model            VARCHAR,
    call_fingerprint VARCHAR,
    run_id           VARCHAR NOT NULL,
    created_at       TIMESTAMP NOT NULL
);

CREATE VIEW teacher_calls AS
SELECT fingerprint, request_id, sample_index, model, base_url, parameters, messages, status,
       status <> 'failed' AS answered, status = 'truncated' AS truncated, content, raw_response,
       finish_reason, prompt_tokens, completion_tokens, cost_usd, latency_s, attempts, http_status,
       error, mode, batch_id, source, conversation_id, run_id, created_at
FROM t_teacher_call;

CREATE VIEW teacher_batches AS
SELECT id, base_url, model, source, input_file_id, part, n_requests, status, output_file_id,
       error_file_id, run_id, created_at, updated_at, collected_at
FROM t_teacher_batch;

CREATE VIEW teacher_prompts AS
SELECT id, task, text, accepted, reason, score, nearest, template_version, model, call_fingerprint,
       run_id, created_at
FROM t_teacher_prompt;
