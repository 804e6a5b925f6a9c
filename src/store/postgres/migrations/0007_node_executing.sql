-- How many tasks a node is executing right now, as its last heartbeat said: the load nodes
-- compare to leave `any` runs to the least loaded. Runs it holds for a later instant are not
-- load (a node preparing two seconds of its share ahead held thousands), so the count of its
-- `running` rows is not the measure. NULL until the node reports it.
ALTER TABLE nodes ADD COLUMN executing integer;
