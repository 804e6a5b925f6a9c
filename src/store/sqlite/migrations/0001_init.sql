-- Instants are epoch milliseconds (INTEGER is 64-bit in SQLite). Booleans are 0/1.

CREATE TABLE schedules (
  name            TEXT PRIMARY KEY,
  expr            TEXT NOT NULL,
  timezone        TEXT NOT NULL,
  task            TEXT NOT NULL,
  target_kind     TEXT NOT NULL CHECK (target_kind IN ('any', 'all', 'tag')),
  target_tag      TEXT,
  concurrency     TEXT NOT NULL CHECK (concurrency IN ('allow', 'forbid', 'replace')),
  misfire         TEXT NOT NULL CHECK (misfire IN ('skip', 'run-once', 'run-all')),
  misfire_limit   INTEGER NOT NULL,
  retries_max     INTEGER NOT NULL,
  retry_backoff_ms INTEGER NOT NULL,
  timeout_ms      INTEGER,
  jitter_ms       INTEGER NOT NULL,
  source          TEXT NOT NULL CHECK (source IN ('config', 'api')),
  enabled         INTEGER NOT NULL DEFAULT 1,
  paused          INTEGER NOT NULL DEFAULT 0,
  cursor          INTEGER,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;

-- The key of a fire is unique forever (invariant 1); no foreign key to schedules so that
-- deleting an API schedule keeps its history.
CREATE TABLE fires (
  schedule     TEXT NOT NULL,
  scheduled_at INTEGER NOT NULL,
  manual       INTEGER NOT NULL,
  created_by   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (schedule, scheduled_at)
) STRICT, WITHOUT ROWID;

CREATE TABLE runs (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  schedule         TEXT NOT NULL,
  task             TEXT NOT NULL,
  scheduled_at     INTEGER NOT NULL,
  attempt          INTEGER NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'timed_out', 'lost', 'cancelled', 'skipped')),
  target_node      TEXT,
  target_tag       TEXT,
  node             TEXT,
  not_before       INTEGER NOT NULL,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER,
  lease_until      INTEGER,
  exit_code        INTEGER,
  signal           TEXT,
  reason           TEXT,
  timeout_ms       INTEGER,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  log_path         TEXT,
  manual           INTEGER NOT NULL DEFAULT 0,
  stdout           TEXT NOT NULL DEFAULT '',
  stderr           TEXT NOT NULL DEFAULT ''
) STRICT;

-- Claiming walks queued runs oldest first; the partial index holds only the queue.
CREATE INDEX runs_claim ON runs (not_before, id) WHERE status = 'queued';
-- Concurrency policies look up a schedule's active runs; the sweeper looks up expired leases.
CREATE INDEX runs_active ON runs (schedule) WHERE status IN ('queued', 'running');
CREATE INDEX runs_lease ON runs (lease_until) WHERE status = 'running';
CREATE INDEX runs_running_node ON runs (node) WHERE status = 'running';
-- Listings are newest first (id descending) under one filter, paged by id. Every index costs
-- each of the 1,000 runs a burst inserts (measured on SQLite: 10 indexes made 1,000 inserts
-- ~6x slower than none), so task and schedule+status filters ride on these instead of their own.
CREATE INDEX runs_by_schedule ON runs (schedule, id);
CREATE INDEX runs_by_node ON runs (node, id) WHERE node IS NOT NULL;
CREATE INDEX runs_by_status ON runs (status, id);
CREATE INDEX runs_by_scheduled_at ON runs (scheduled_at);

CREATE TABLE nodes (
  name          TEXT PRIMARY KEY,
  host          TEXT NOT NULL,
  pid           INTEGER NOT NULL,
  version       TEXT NOT NULL,
  tasks         TEXT NOT NULL, -- JSON array of task names
  tags          TEXT NOT NULL, -- JSON array of tags
  started_at    INTEGER NOT NULL,
  heartbeat_at  INTEGER NOT NULL,
  draining      INTEGER NOT NULL DEFAULT 0,
  clock_skew_ms INTEGER NOT NULL DEFAULT 0
) STRICT;

-- `contender*` remembers the highest-priority node that asked for the lease while it was held,
-- so that it wins when the lease becomes free even if a lower one asks first.
CREATE TABLE leases (
  name               TEXT PRIMARY KEY,
  holder             TEXT,
  fence              INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL,
  priority           INTEGER NOT NULL,
  contender          TEXT,
  contender_priority INTEGER,
  contender_seen_at  INTEGER
) STRICT;
