-- The schedule revision (0004) moved at the end of each statement that changed schedules, taking
-- the revision row's lock there and holding it to the end of the transaction. A transaction that
-- had changed a schedule could then, holding it, wait for a row that another transaction had
-- changed while that one waited for the revision: a deadlock, and PostgreSQL failed one of them.
-- For instance a config sync inserting a new schedule whose name an API put had just inserted.
-- The revision now moves once per transaction, at its commit, when it waits for nothing else.
DROP TRIGGER schedules_revision_insert_delete ON schedules;
DROP TRIGGER schedules_revision_update ON schedules;

CREATE OR REPLACE FUNCTION bump_schedule_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Fired for every changed row at commit; the first one moves the revision, the rest see it done.
  IF current_setting('cronfleet.schedule_revision_moved', true) = txid_current()::text THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('cronfleet.schedule_revision_moved', txid_current()::text, true);
  UPDATE schedule_revision SET revision = revision + 1 WHERE id = 1;
  RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER schedules_revision_insert_delete AFTER INSERT OR DELETE ON schedules
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_schedule_revision();

CREATE CONSTRAINT TRIGGER schedules_revision_update
  AFTER UPDATE OF name, expr, timezone, task, target_kind, target_tag, concurrency, misfire, misfire_limit, retries_max,
    retry_backoff_ms, timeout_ms, jitter_ms, source, enabled, paused, created_at, updated_at ON schedules
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_schedule_revision();
