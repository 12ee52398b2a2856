-- Eval sets: the benchmark items that curation decontaminates against and eval scores on.
-- Registered once (imitkit evalset add, or by the eval harness), used by both.

CREATE TABLE t_evalset (
    name        VARCHAR PRIMARY KEY,
    task        VARCHAR,             -- nq | mmlu | humaneval | custom …
    file        VARCHAR,
    field       VARCHAR,             -- which field holds the text to match
    n_items     INTEGER NOT NULL,
    fingerprint VARCHAR NOT NULL,    -- hash of the items, to notice a changed file
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE t_evalset_item (
    evalset     VARCHAR NOT NULL,
    item_id     VARCHAR NOT NULL,
    text        VARCHAR NOT NULL,    -- the question / prompt matched during decontamination
    answers     JSON,                -- gold answers where the task has them
    metadata    JSON,
    PRIMARY KEY (evalset, item_id)
);

CREATE VIEW evalsets AS
SELECT name, task, file, field, n_items, fingerprint, created_at FROM t_evalset;

CREATE VIEW evalset_items AS
SELECT evalset, item_id, text, answers, metadata FROM t_evalset_item;
