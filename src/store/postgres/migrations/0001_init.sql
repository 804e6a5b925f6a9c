-- Unqualified names: every connection's search_path is the store's schema.
-- Instants are epoch milliseconds in int8, as the Store interface speaks them.

CREATE TABLE schedules (
  name             text PRIMARY KEY,
  expr             text NOT NULL,
  timezone         text NOT NULL,
  task             text NOT NULL,
  target_kind      text NOT NULL CHECK (target_kind IN ('any', 'all', 'tag')),
  target_tag       text,
  concurrency      text NOT NULL CHECK (concurrency IN ('allow', 'forbid', 'replace')),
  misfire          text NOT NULL CHECK (misfire IN ('skip', 'run-once', 'run-all')),
  misfire_limit    integer NOT NULL,
  retries_max      integer NOT NULL,
  retry_backoff_ms int8 NOT NULL,
  timeout_ms       int8,
  jitter_ms        int8 NOT NULL,
  source           text NOT NULL CHECK (source IN ('config', 'api')),
  enabled          boolean NOT NULL DEFAULT true,
  paused           boolean NOT NULL DEFAULT false,
  cursor           int8,
  created_at       int8 NOT NULL,
  updated_at       int8 NOT NULL
);

-- The key of a fire is unique forever (invariant 1); no foreign key to schedules so that
-- deleting an API schedule keeps its history.
CREATE TABLE fires (
  schedule     text NOT NULL,
  scheduled_at int8 NOT NULL,
  manual       boolean NOT NULL,
  created_by   text NOT NULL,
  created_at   int8 NOT NULL,
  PRIMARY KEY (schedule, scheduled_at)
);

CREATE TABLE runs (
  id               int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  schedule         text NOT NULL,
  task             text NOT NULL,
  scheduled_at     int8 NOT NULL,
  attempt          integer NOT NULL,
  status           text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'timed_out', 'lost', 'cancelled', 'skipped')),
  target_node      text,
  target_tag       text,
  node             text,
  not_before       int8 NOT NULL,
  created_at       int8 NOT NULL,
  started_at       int8,
  finished_at      int8,
  lease_until      int8,
  exit_code        integer,
  signal           text,
  reason           text,
  timeout_ms       int8,
  cancel_requested boolean NOT NULL DEFAULT false,
  log_path         text,
  manual           boolean NOT NULL DEFAULT false,
  stdout           text NOT NULL DEFAULT '',
  stderr           text NOT NULL DEFAULT ''
);

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
  name          text PRIMARY KEY,
  host          text NOT NULL,
  pid           integer NOT NULL,
  version       text NOT NULL,
  tasks         text[] NOT NULL,
  tags          text[] NOT NULL,
  started_at    int8 NOT NULL,
  heartbeat_at  int8 NOT NULL,
  draining      boolean NOT NULL DEFAULT false,
  clock_skew_ms int8 NOT NULL DEFAULT 0
);

-- `contender*` remembers the highest-priority node that asked for the lease while it was held,
-- so that it wins when the lease becomes free even if a lower one asks first.
CREATE TABLE leases (
  name               text PRIMARY KEY,
  holder             text,
  fence              int8 NOT NULL,
  expires_at         int8 NOT NULL,
  priority           integer NOT NULL,
  contender          text,
  contender_priority integer,
  contender_seen_at  int8
);
