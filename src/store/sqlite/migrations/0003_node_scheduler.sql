-- Whether a node runs a scheduler: only those share the scheduling of the cluster's schedules.
ALTER TABLE nodes ADD COLUMN scheduler INTEGER NOT NULL DEFAULT 1;
