-- A number that moves whenever a schedule is added, removed, or changed in anything but its
-- cursor (spec, pause, enabled): a scheduler re-reads every schedule only when it moved, instead
-- of reading them all at each refresh. Triggers keep it, so no writer can forget to.
CREATE TABLE schedule_revision (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL
) STRICT;
INSERT INTO schedule_revision (id, revision) VALUES (1, 1);

CREATE TRIGGER schedules_revision_insert AFTER INSERT ON schedules
BEGIN
  UPDATE schedule_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER schedules_revision_delete AFTER DELETE ON schedules
BEGIN
  UPDATE schedule_revision SET revision = revision + 1 WHERE id = 1;
END;

CREATE TRIGGER schedules_revision_update
AFTER UPDATE OF name, expr, timezone, task, target_kind, target_tag, concurrency, misfire, misfire_limit, retries_max,
  retry_backoff_ms, timeout_ms, jitter_ms, source, enabled, paused, created_at, updated_at ON schedules
BEGIN
  UPDATE schedule_revision SET revision = revision + 1 WHERE id = 1;
END;
