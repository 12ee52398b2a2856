-- Foundation: conversations, provenance, sources, runs and quarantine.
-- Tables are private (t_*); the views below are the documented, stable SQL interface.
-- All timestamps are UTC.

CREATE TABLE t_run (
    id            VARCHAR PRIMARY KEY,
    command       VARCHAR NOT NULL,
    arguments     JSON,
    code_version  VARCHAR,
    started_at    TIMESTAMP NOT NULL,
    ended_at      TIMESTAMP,
    status        VARCHAR NOT NULL,      -- running | ok | failed | interrupted
    counts        JSON,
    error         VARCHAR
);

CREATE TABLE t_source (
    name          VARCHAR PRIMARY KEY,
    format        VARCHAR,
    license       VARCHAR,
    origin        VARCHAR,
    teacher_model VARCHAR,
    notes         VARCHAR,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE t_conversation (
    id            VARCHAR PRIMARY KEY,
    source        VARCHAR NOT NULL,      -- the first source it was imported from
    origin        VARCHAR NOT NULL,      -- teacher | human
    teacher_model VARCHAR,
    messages      STRUCT(role VARCHAR, content VARCHAR, tool_calls VARCHAR)[] NOT NULL,
    n_turns       INTEGER NOT NULL,
    n_chars       BIGINT NOT NULL,
    metadata      JSON,
    run_id        VARCHAR NOT NULL,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE t_occurrence (
    conversation_id VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    file            VARCHAR NOT NULL,
    record_index    BIGINT NOT NULL,
    part            INTEGER NOT NULL,
    line            BIGINT,
    record_id       VARCHAR,
    run_id          VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE t_quarantine (
    run_id        VARCHAR NOT NULL,
    source        VARCHAR NOT NULL,
    file          VARCHAR NOT NULL,
    record_index  BIGINT,
    line          BIGINT,
    reason        VARCHAR NOT NULL,
    excerpt       VARCHAR,
    created_at    TIMESTAMP NOT NULL
);

CREATE VIEW conversations AS
SELECT c.id, c.source, c.origin, c.teacher_model, c.messages, c.n_turns, c.n_chars,
       CAST(NULL AS VARCHAR) AS lang,
       TRUE AS kept,
       c.created_at, c.metadata, c.run_id
FROM t_conversation c;

CREATE VIEW occurrences AS
SELECT conversation_id, source, file, record_index, part, line, record_id, run_id, created_at
FROM t_occurrence;

CREATE VIEW sources AS
SELECT s.name, s.format, s.license, s.origin, s.teacher_model, s.notes, s.created_at, s.updated_at
FROM t_source s;

CREATE VIEW runs AS
SELECT id, command, arguments, code_version, started_at, ended_at, status, counts, error,
       date_diff('millisecond', started_at, ended_at) / 1000.0 AS seconds
FROM t_run;

CREATE VIEW quarantine AS
SELECT run_id, source, file, record_index, line, reason, excerpt, created_at
FROM t_quarantine;
