-- Batch API jobs are recorded *before* they are created (write-ahead), under a provisional id
-- 'pending:<submission>', and tagged with the submission key in the batch's metadata. A process
-- killed between creating a batch and storing its id no longer leads a re-run to pay again:
-- the next run finds the batch by its key and adopts it, or, when it was never created,
-- marks the submission 'abandoned' so its requests can be sent.

ALTER TABLE t_teacher_batch ADD COLUMN submission VARCHAR;
ALTER TABLE t_teacher_batch ALTER COLUMN input_file_id DROP NOT NULL;

CREATE OR REPLACE VIEW teacher_batches AS
SELECT id, base_url, model, source, input_file_id, part, n_requests, status, output_file_id,
       error_file_id, run_id, created_at, updated_at, collected_at, submission
FROM t_teacher_batch;
