-- A number that moves whenever a schedule is added, removed, or changed in anything but its
-- cursor (spec, pause, enabled): a scheduler re-reads every schedule only when it moved, instead
-- of reading them all at each refresh. A trigger keeps it, so no writer can forget to; it fires
-- once per statement, so a sync of 10,000 schedules moves it once.
CREATE TABLE schedule_revision (
  id       integer PRIMARY KEY CHECK (id = 1),
  revision int8 NOT NULL
);
INSERT INTO schedule_revision (id, revision) VALUES (1, 1);

CREATE FUNCTION bump_schedule_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE schedule_revision SET revision = revision + 1 WHERE id = 1;
  RETURN NULL;
END;
$$;

CREATE TRIGGER schedules_revision_insert_delete AFTER INSERT OR DELETE ON schedules
  FOR EACH STATEMENT EXECUTE FUNCTION bump_schedule_revision();

CREATE TRIGGER schedules_revision_update
  AFTER UPDATE OF name, expr, timezone, task, target_kind, target_tag, concurrency, misfire, misfire_limit, retries_max,
    retry_backoff_ms, timeout_ms, jitter_ms, source, enabled, paused, created_at, updated_at ON schedules
  FOR EACH STATEMENT EXECUTE FUNCTION bump_schedule_revision();
