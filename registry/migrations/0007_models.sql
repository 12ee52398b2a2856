-- Fine-tuned models: which snapshot (name and fingerprint) and base model each model directory
-- was trained from, by which run, with which settings, on how many trainable tokens, ending how.
-- Written by `imitkit finetune`; read by eval to find what a model was trained on.

CREATE TABLE t_model (
    model_dir              VARCHAR PRIMARY KEY,  -- absolute path of the output directory
    snapshot               VARCHAR NOT NULL,
    snapshot_fingerprint   VARCHAR NOT NULL,
    snapshot_split         VARCHAR NOT NULL,
    base_model             VARCHAR NOT NULL,     -- directory or Hub id given as --model
    adapter                BOOLEAN NOT NULL,     -- TRUE: a LoRA adapter to load on top of base_model
    run_id                 VARCHAR NOT NULL,
    config                 JSON NOT NULL,        -- {"imitkit": …, "sft": …, "model": …} as resolved
    chat_template          VARCHAR,              -- where the template came from
    chat_template_sha256   VARCHAR,
    trainable_tokens_seen  BIGINT NOT NULL,      -- tokens the loss used, over every process and resume
    global_step            INTEGER NOT NULL,
    final_metrics          JSON,                 -- train_loss, final_loss, eval_loss, epoch, …
    created_at             TIMESTAMP NOT NULL
);

CREATE VIEW models AS
SELECT m.model_dir, m.snapshot, m.snapshot_fingerprint, m.snapshot_split, m.base_model, m.adapter,
       m.run_id, m.config, m.chat_template, m.chat_template_sha256, m.trainable_tokens_seen,
       m.global_step, m.final_metrics,
       TRY_CAST(json_extract(m.final_metrics, '$.train_loss') AS DOUBLE) AS train_loss,
       TRY_CAST(json_extract(m.final_metrics, '$.eval_loss') AS DOUBLE) AS eval_loss,
       m.created_at
FROM t_model m;
