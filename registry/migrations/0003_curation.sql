-- Curation: one verdict per (step, conversation), normalised message versions, and the
-- configured pipeline. Raw t_conversation.messages is never overwritten.

CREATE TABLE t_verdict (
    run_id          VARCHAR NOT NULL,
    step            VARCHAR NOT NULL,
    conversation_id VARCHAR NOT NULL,
    keep            BOOLEAN NOT NULL,
    reason          VARCHAR,             -- why it was dropped (or a note on a keep)
    details         JSON,                -- score, language, cluster and kept member, matched eval item…
    fingerprint     VARCHAR NOT NULL,    -- hash of the step's parameters
    input_hash      UBIGINT,             -- hash of the messages the step judged
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE t_message_version (
    conversation_id VARCHAR NOT NULL,
    step            VARCHAR NOT NULL,    -- the step that produced this version
    version         INTEGER NOT NULL,    -- the step's rank: the highest configured version is current
    messages        STRUCT(role VARCHAR, content VARCHAR, tool_calls VARCHAR)[] NOT NULL,
    run_id          VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE t_curation_pipeline (
    step        VARCHAR PRIMARY KEY,     -- a configured step: its verdicts count towards kept
    position    INTEGER NOT NULL,
    fingerprint VARCHAR NOT NULL,
    params      JSON,
    updated_at  TIMESTAMP NOT NULL
);

CREATE OR REPLACE VIEW conversations AS
WITH latest_version AS (
    SELECT mv.conversation_id, mv.messages
    FROM t_message_version mv
    JOIN (SELECT conversation_id, max(version) AS version FROM t_message_version
          WHERE step IN (SELECT step FROM t_curation_pipeline) GROUP BY conversation_id) lv
      ON lv.conversation_id = mv.conversation_id AND lv.version = mv.version
), state AS (
    SELECT conversation_id, bool_and(keep) AS kept,
           max(CASE WHEN step = 'language' THEN json_extract_string(details, '$.lang') END) AS lang
    FROM t_verdict
    WHERE step IN (SELECT step FROM t_curation_pipeline)
    GROUP BY conversation_id
)
SELECT c.id, c.source, c.origin, c.teacher_model,
       coalesce(v.messages, c.messages) AS messages,
       CASE WHEN v.messages IS NULL THEN c.n_turns
            ELSE CAST(len(list_filter(v.messages, lambda m: m.role <> 'system')) AS INTEGER) END AS n_turns,
       CASE WHEN v.messages IS NULL THEN c.n_chars
            ELSE CAST(coalesce(list_sum(list_transform(v.messages, lambda m: length(m.content))), 0) AS BIGINT) END AS n_chars,
       s.lang,
       coalesce(s.kept, TRUE) AS kept,
       c.created_at, c.metadata, c.run_id,
       c.messages AS raw_messages
FROM t_conversation c
LEFT JOIN latest_version v ON v.conversation_id = c.id
LEFT JOIN state s ON s.conversation_id = c.id;

CREATE VIEW verdicts AS
SELECT v.run_id, v.step, v.conversation_id,
       CASE WHEN v.keep THEN 'keep' ELSE 'drop' END AS decision,
       v.keep, v.reason, v.details, v.fingerprint, v.created_at,
       p.step IS NOT NULL AS configured
FROM t_verdict v LEFT JOIN t_curation_pipeline p ON p.step = v.step;

CREATE VIEW message_versions AS
SELECT conversation_id, step, version, messages, run_id, created_at FROM t_message_version;

CREATE VIEW curation_pipeline AS
SELECT step, position, fingerprint, params, updated_at FROM t_curation_pipeline;
