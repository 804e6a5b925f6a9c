-- A node may run the runs it claims as it creates their fires without writing them first: a run
-- that ends soon is written once, finished (one INSERT, ~8 µs of PostgreSQL), instead of inserted
-- `running` and updated at its end (~26 µs, and a second heap tuple with its index entries).
-- Until then only its fire is stored. Should the node die, a sweep finds those fires among the
-- ones it created since `deferred_since` that have no run for it, and records their runs lost.
-- `defer_epoch` moves with each such sweep: results and writes of runs deferred under an older
-- epoch are refused, so a node taken for dead while it still ran never doubles a run.
ALTER TABLE nodes ADD COLUMN defer_epoch integer NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN deferred_since int8;
-- The sweep reads a dead node's latest fires by creation time. A BRIN index costs an insert
-- nothing while its page range is not summarized yet (the newest fires' pages, the ones sought),
-- where a B-tree would add an entry to every fire.
CREATE INDEX fires_by_created_at ON fires USING brin (created_at);
