-- Token counts and snapshots (issue 5).
-- Token counts are a cache keyed by (conversation, tokenizer + chat template): counting is
-- the slow part of building a mixture, so it is done once per conversation and reused.
-- Snapshots are immutable: a name is bound to one fingerprint for ever.

CREATE TABLE t_tokenizer (
    key              VARCHAR PRIMARY KEY,  -- fingerprint of the tokenizer files and chat template
    tokenizer        VARCHAR NOT NULL,     -- local path or hub id, as the user named it
    template_sha256  VARCHAR,
    template_source  VARCHAR,              -- a file, or 'tokenizer' for the tokenizer's own template
    trainable_method VARCHAR NOT NULL,     -- generation-mask | prefix-diff
    created_at       TIMESTAMP NOT NULL
);

CREATE TABLE t_token_count (
    conversation_id    VARCHAR NOT NULL,
    tokenizer_key      VARCHAR NOT NULL,
    n_tokens           INTEGER,            -- NULL when the chat template cannot render it
    n_trainable_tokens INTEGER,
    error              VARCHAR,
    run_id             VARCHAR NOT NULL,
    created_at         TIMESTAMP NOT NULL
);

CREATE TABLE t_snapshot (
    name               VARCHAR PRIMARY KEY,
    fingerprint        VARCHAR NOT NULL,
    path               VARCHAR NOT NULL,
    conversations      BIGINT NOT NULL,
    tokens             BIGINT NOT NULL,
    trainable_tokens   BIGINT NOT NULL,
    token_counts_exact BOOLEAN NOT NULL,
    tokenizer          VARCHAR,
    manifest           JSON NOT NULL,
    run_id             VARCHAR NOT NULL,
    created_at         TIMESTAMP NOT NULL
);

CREATE TABLE t_snapshot_member (
    snapshot           VARCHAR NOT NULL,
    position           BIGINT NOT NULL,    -- row order within the split's file
    conversation_id    VARCHAR NOT NULL,
    split              VARCHAR NOT NULL,   -- train | eval
    component          VARCHAR NOT NULL,
    n_tokens           BIGINT NOT NULL,
    n_trainable_tokens BIGINT NOT NULL
);

CREATE VIEW tokenizers AS
SELECT key, tokenizer, template_sha256, template_source, trainable_method, created_at FROM t_tokenizer;

CREATE VIEW token_counts AS
SELECT t.conversation_id, k.tokenizer, k.template_sha256, t.tokenizer_key, t.n_tokens, t.n_trainable_tokens,
       t.error, t.run_id, t.created_at
FROM t_token_count t JOIN t_tokenizer k ON k.key = t.tokenizer_key;

CREATE VIEW snapshots AS
SELECT name, fingerprint, path, conversations, tokens, trainable_tokens, token_counts_exact, tokenizer,
       manifest, run_id, created_at
FROM t_snapshot;

CREATE VIEW snapshot_members AS
SELECT snapshot, position, conversation_id, split, component, n_tokens, n_trainable_tokens FROM t_snapshot_member;
