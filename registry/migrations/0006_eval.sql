-- Eval results (issue 7). One t_eval row per (model, task) evaluation; its metrics in
-- t_eval_metric; per-item predictions in Parquet at <registry>/<predictions>.
-- Lineage (snapshot, its fingerprint and trainable tokens, base model) is copied in at
-- eval time, so reports need neither the snapshot nor the model on disk.

CREATE TABLE t_eval (
    id                   VARCHAR PRIMARY KEY,
    run_id               VARCHAR NOT NULL,
    model                VARCHAR NOT NULL,   -- the label reports use (--name, else the spec)
    model_spec           VARCHAR,            -- path, hub id, openai:MODEL[@URL], or 'external'
    model_kind           VARCHAR,            -- local | openai | external
    snapshot             VARCHAR,
    snapshot_fingerprint VARCHAR,
    trainable_tokens     BIGINT,
    base_model           VARCHAR,
    task                 VARCHAR NOT NULL,
    n                    INTEGER NOT NULL,
    settings             JSON,
    predictions          VARCHAR,            -- Parquet path relative to the registry
    seconds              DOUBLE,
    created_at           TIMESTAMP NOT NULL
);

CREATE TABLE t_eval_metric (
    eval_id VARCHAR NOT NULL,
    metric  VARCHAR NOT NULL,
    value   DOUBLE,
    PRIMARY KEY (eval_id, metric)
);

CREATE VIEW evals AS
SELECT id, model, model_spec, model_kind, snapshot, snapshot_fingerprint, trainable_tokens, base_model,
       task, n, settings, predictions, seconds, run_id, created_at
FROM t_eval;

CREATE VIEW eval_results AS
SELECT e.id AS eval_id, e.model, e.snapshot, e.snapshot_fingerprint, e.trainable_tokens, e.base_model,
       e.task, m.metric, m.value, e.n, e.settings, e.created_at, e.predictions
FROM t_eval_metric m JOIN t_eval e ON e.id = m.eval_id;

-- The newest result of each (model, task, metric): what `imitkit eval report` shows.
CREATE VIEW eval_latest AS
SELECT * FROM eval_results
QUALIFY row_number() OVER (PARTITION BY model, task, metric ORDER BY created_at DESC, eval_id DESC) = 1;
