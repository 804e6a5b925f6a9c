-- How far a node's scheduler has planned its share, so that the others take over only from one
-- that stopped: `planned_through` is the instant through which it created every fire of the
-- schedules it owns, `planned_view` the owners and schedule revision it judged them by (marks
-- count only for peers that see the same), `planned_at` when it said so. A node overloaded but
-- working keeps saying so; the others no longer take its share over, which at 10,000 fires a
-- second across three nodes on one machine doubled the work and never caught up.
ALTER TABLE nodes ADD COLUMN planned_through INTEGER;
ALTER TABLE nodes ADD COLUMN planned_view TEXT;
ALTER TABLE nodes ADD COLUMN planned_at INTEGER;
