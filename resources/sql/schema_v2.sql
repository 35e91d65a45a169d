-- schema v2: training runs from the app — full config, run folder, metrics in batches, checkpoints.
-- Applied inside one transaction by app/storage/Migrations.cpp, which then sets PRAGMA user_version = 2.
-- Status values of training_runs.status: created, running, paused, stopped, finished, failed, missing.

ALTER TABLE training_runs ADD COLUMN config_json TEXT    NOT NULL DEFAULT '{}';  -- TrainingRunConfig::to_json
ALTER TABLE training_runs ADD COLUMN folder      TEXT    NOT NULL DEFAULT '';    -- the run folder (run.json, checkpoints/, final/)
ALTER TABLE training_runs ADD COLUMN total_steps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE training_runs ADD COLUMN message     TEXT    NOT NULL DEFAULT '';    -- last error or note for the user
ALTER TABLE training_runs ADD COLUMN val_loss    REAL;

-- One row per optimizer step (re-run steps after a resume replace theirs). extra_json holds the
-- per-step vectors: per-block grad norms, expert load per layer, mHC composite gains and mixing matrices.
CREATE TABLE train_metrics (
    run_id       INTEGER NOT NULL REFERENCES training_runs(id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    loss         REAL,                 -- NULL: non-finite (a skipped step)
    val_loss     REAL,
    lr           REAL    NOT NULL DEFAULT 0,
    grad_norm    REAL,                 -- NULL: non-finite
    tokens_per_s REAL    NOT NULL DEFAULT 0,
    eta_s        REAL    NOT NULL DEFAULT 0,
    skipped      INTEGER NOT NULL DEFAULT 0,
    extra_json   TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;

CREATE TABLE train_checkpoints (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES training_runs(id) ON DELETE CASCADE,
    step        INTEGER NOT NULL,
    path        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (run_id, path)
);
CREATE INDEX train_checkpoints_run ON train_checkpoints(run_id, step);
