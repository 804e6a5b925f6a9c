-- Listing runs by status had (status, id) over every run. A claim (status = 'queued') could then
-- be planned as that index ANDed with runs_active, and on a table not analyzed yet it was: each
-- claim walked every run that was ever queued or running instead of the small queue (runs_claim).
-- The index now holds only the runs that end other than `succeeded`: the ones listings filter
-- for. Queued and running runs are listed through runs_claim, runs_active and runs_lease, and
-- succeeded ones (most of them) newest first by id. Each run also costs one index entry less
-- as it is inserted, claimed and finished.
DROP INDEX runs_by_status;
CREATE INDEX runs_by_status_final ON runs (status, id) WHERE status NOT IN ('queued', 'running', 'succeeded');
