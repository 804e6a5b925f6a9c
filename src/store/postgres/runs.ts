import { ConflictError, NotFoundError } from '../../errors.js';
import { deadNodeReason, deadTargetReason, leaseExpiredReason } from '../lost-reasons.js';
import { unwrittenFireRun, type UnwrittenFire } from '../fire-runs.js';
import { retryOf } from '../retry.js';
import { RUN_COLUMNS, UNWRITTEN_FIRE_COLUMNS, num, qualified, runFromRow, scheduleFromRow, storableOutput, unwrittenFireFromRow } from '../rows.js';
import { FINAL_STATUSES, type ClaimRequest, type FinishRequest, type FinishResult, type Run, type RunOutput } from '../types.js';
import { preparedRows, rows, type Q } from './db.js';
import { recordSource, type RecordField } from './records.js';
import { insertDeferredRuns, insertRuns } from './fires.js';

/** Claimable by a node: queued, a task it offers, and meant for it by name or tag (or anyone). */
const CLAIMABLE =
  "status = 'queued' AND task = ANY($1::text[]) AND (target_node IS NULL OR target_node = $2) " +
  'AND (target_tag IS NULL OR target_tag = ANY($3::text[]))';

/**
 * SKIP LOCKED: concurrent claimers pass over each other's rows instead of waiting or doubling.
 * Walks the queue's own index (runs_claim): see migration 0006 and the plan test.
 */
export const CLAIM_RUNS = `WITH picked AS (
    SELECT id FROM runs WHERE ${CLAIMABLE} AND not_before <= $7 AND created_at <= $8
    ORDER BY not_before, id LIMIT $5 FOR UPDATE SKIP LOCKED)
  UPDATE runs r SET status = 'running', node = $2, started_at = $4, lease_until = $6
  FROM picked WHERE r.id = picked.id
  RETURNING ${qualified(RUN_COLUMNS, 'r')}`;

export async function claimRuns(c: Q, req: ClaimRequest): Promise<Run[]> {
  if (req.tasks.length === 0 || req.limit < 1) return [];
  const claimed = await rows(
    c,
    CLAIM_RUNS,
    [req.tasks, req.node, req.tags, req.now, req.limit, req.now + req.leaseMs, Math.max(req.now, req.dueBy ?? req.now), req.createdBy ?? Number.MAX_SAFE_INTEGER],
  );
  return claimed.map(runFromRow).sort((a, b) => a.notBefore - b.notBefore || a.id - b.id);
}

export async function nextQueuedAt(c: Q, node: string, tasks: string[], tags: string[]): Promise<number | null> {
  if (tasks.length === 0) return null;
  const [row] = await rows(c, `SELECT min(not_before) AS at FROM runs WHERE ${CLAIMABLE}`, [tasks, node, tags]);
  return row?.at === null || row?.at === undefined ? null : num(row.at);
}

const FINISH_FIELDS: readonly RecordField[] = [
  ['runId', 'int8'], ['node', 'text'], ['status', 'text'], ['now', 'int8'], ['exitCode', 'int4'], ['signal', 'text'], ['reason', 'text'],
  ['stdout', 'text'], ['stderr', 'text'], ['startedAt', 'int8'],
];

/**
 * The statement that records `reqs`, their fields sent by recordSource (most results of a batch
 * share all but their id and instants). The status and node tests are written so that no index
 * on running runs serves them, leaving each run to be found by its id: with `status = 'running'
 * AND node = x.node`, the planner walked every running run of the node for each result (500
 * results among 10,000 running: 57 ms, not 2). They are also written against the result's row
 * (`CASE WHEN x.runId ...`, always true) so that they are join conditions, not a filter on runs
 * alone: on a table not analyzed yet (a new store's first minute) PostgreSQL guessed that such a
 * filter left one run, and read the whole table once per result (1,000 results among 20,000
 * running runs: 3.7 s; in bench/cluster, batches of 9 ms to 2.7 s in each new database's first seconds).
 */
export function finishRunsStatement(reqs: FinishRequest[]): { text: string; values: unknown[] } {
  const src = recordSource(
    FINISH_FIELDS,
    reqs.map((r) => {
      const { stdout, stderr } = storableOutput(r.output);
      return { runId: r.runId, node: r.node, status: r.status, now: r.now, exitCode: r.exitCode, signal: r.signal, reason: r.reason, stdout, stderr, startedAt: r.startedAt };
    }),
  );
  const x = src.field;
  return {
    text: `UPDATE runs r SET status = ${x.status}, finished_at = ${x.now}, exit_code = ${x.exitCode}, signal = ${x.signal},
      reason = ${x.reason}, stdout = ${x.stdout}, stderr = ${x.stderr}, lease_until = NULL, started_at = COALESCE(${x.startedAt}, r.started_at)
    FROM ${src.from}
    WHERE r.id = ${x.runId} AND r.status = CASE WHEN ${x.runId} IS NOT NULL THEN 'running' END
      AND r.node IS NOT DISTINCT FROM CASE WHEN ${x.runId} IS NOT NULL THEN ${x.node} END
    RETURNING r.id`,
    values: src.params,
  };
}

/**
 * Records many results in one statement. Each applies only while its run is still `running` on
 * the node that sends it (not swept lost, not finished twice); a failed or timed-out run that
 * applied gets its retry as the schedule's policy says.
 */
export async function finishRunsTx(c: Q, reqs: FinishRequest[]): Promise<FinishResult[]> {
  const stored = reqs.filter((r) => r.deferred === undefined);
  const ids = new Set<number>();
  if (stored.length > 0) {
    const finish = finishRunsStatement(stored);
    for (const r of await preparedRows(c, finish.text, finish.values)) ids.add(num(r.id));
  }
  const ended: Run[] = [];
  for (const run of await writeDeferredResults(c, reqs.filter((r) => r.deferred !== undefined))) {
    ids.add(run.id);
    ended.push(run);
  }
  const retrying = reqs.filter((r) => ids.has(r.runId) && (r.status === 'failed' || r.status === 'timed_out'));
  const retries = new Map<number, Run>();
  if (retrying.length > 0) {
    const endedAt = new Map(retrying.map((r) => [r.runId, r.now]));
    const known = new Set(ended.map((r) => r.id));
    const read = [...endedAt.keys()].filter((id) => !known.has(id));
    if (read.length > 0) ended.push(...(await rows(c, `SELECT ${RUN_COLUMNS} FROM runs WHERE id = ANY($1::int8[])`, [read])).map(runFromRow));
    const again = ended.filter((r) => endedAt.has(r.id));
    for (const retry of await retryRuns(c, again, (run) => endedAt.get(run.id)!)) retries.set(retry.previousId, retry.run);
  }
  return reqs.map((r) => ({ applied: ids.has(r.runId), retry: retries.get(r.runId) ?? null }));
}

/**
 * Writes the results of runs never written (FinishRequest.deferred) as new rows, each under the
 * epoch it was deferred in: results of a node whose unwritten runs a sweep has since taken for
 * lost (the epoch moved) are not written. The node's row is locked FOR KEY SHARE until COMMIT,
 * against such a sweep (see deferRuns). Returns the runs written, as stored.
 */
async function writeDeferredResults(c: Q, reqs: FinishRequest[]): Promise<Run[]> {
  if (reqs.length === 0) return [];
  const epochs = new Map<string, number | null>();
  for (const r of reqs) {
    if (epochs.has(r.node)) continue;
    const [row] = await rows(c, 'SELECT defer_epoch FROM nodes WHERE name = $1 FOR KEY SHARE', [r.node]);
    epochs.set(r.node, row ? Number(row.defer_epoch) : null);
  }
  // The runs become their results in place: their owner is done with them, and a copy of each of
  // a busy node's 20,000 results a second was garbage at once.
  const runs: Array<Run & RunOutput> = [];
  for (const r of reqs) {
    if (epochs.get(r.node) !== r.deferred!.epoch) continue;
    const { stdout, stderr } = storableOutput(r.output);
    const run = r.deferred!.run as Run & RunOutput;
    run.status = r.status;
    run.finishedAt = r.now;
    if (r.startedAt !== undefined) run.startedAt = r.startedAt;
    run.leaseUntil = null;
    run.exitCode = r.exitCode;
    run.signal = r.signal;
    run.reason = r.reason;
    run.stdout = stdout;
    run.stderr = stderr;
    runs.push(run);
  }
  const written = new Set(await insertDeferredRuns(c, runs, 'finished'));
  return runs.filter((r) => written.has(r.id));
}

/**
 * The next attempts of runs that ended, as each schedule's retry policy allows, timed from
 * `now` (or from each run's own end), each with the id of the run it retries.
 */
async function retryRuns(c: Q, ended: Run[], now: number | ((run: Run) => number)): Promise<Array<{ previousId: number; run: Run }>> {
  if (ended.length === 0) return [];
  const names = [...new Set(ended.map((r) => r.schedule))];
  const schedules = new Map(
    (await rows(c, 'SELECT * FROM schedules WHERE name = ANY($1::text[])', [names])).map((r) => [String(r.name), scheduleFromRow(r)]),
  );
  const next = ended.flatMap((r) => {
    const retry = retryOf(r, schedules.get(r.schedule) ?? null, typeof now === 'number' ? now : now(r));
    return retry ? [{ previousId: r.id, retry }] : [];
  });
  const inserted = await insertRuns(c, next.map((n) => n.retry));
  return inserted.map((run, i) => ({ previousId: next[i]!.previousId, run }));
}

async function loseRunning(c: Q, ids: number[], reasons: string[], now: number): Promise<Run[]> {
  if (ids.length === 0) return [];
  const lost = await rows(
    c,
    `UPDATE runs r SET status = 'lost', finished_at = $3, reason = x.reason, lease_until = NULL
     FROM unnest($1::int8[], $2::text[]) AS x(id, reason) WHERE r.id = x.id AND r.status = 'running'
     RETURNING ${qualified(RUN_COLUMNS, 'r')}`,
    [ids, reasons, now],
  );
  return lost.map(runFromRow).sort((a, b) => a.id - b.id);
}

/**
 * The running runs, lease not yet expired, of the nodes named in $1. Asked only once some node
 * is dead: as one join with the nodes, the planner walked runs_lease through every running run.
 */
export const DEAD_NODE_RUNS = `SELECT id, node FROM runs WHERE status = 'running' AND node = ANY($1::text[]) AND lease_until >= $2
  ORDER BY id FOR UPDATE SKIP LOCKED`;

/** Lost runs first, then the retries made for them. */
export async function sweepLostRunsTx(c: Q, now: number, nodeTtlMs: number): Promise<{ lost: Run[]; retries: Run[] }> {
  // SKIP LOCKED: a run whose row a heartbeat is renewing right now is not expired for long.
  const expired = await rows(
    c,
    "SELECT id, node, lease_until FROM runs WHERE status = 'running' AND lease_until < $1 ORDER BY id FOR UPDATE SKIP LOCKED",
    [now],
  );
  // A dead node's runs go at once, not when their leases run out: with a node TTL shorter than
  // the lease, a killed node's runs are retried within the lease time. The dead nodes are read
  // first (a small table), then their runs by name (DEAD_NODE_RUNS).
  const deadRows = await rows(c, 'SELECT name, heartbeat_at FROM nodes WHERE heartbeat_at < $1', [now - nodeTtlMs]);
  const dead = new Map(deadRows.map((n) => [String(n.name), num(n.heartbeat_at)]));
  const orphaned = dead.size ? await rows(c, DEAD_NODE_RUNS, [[...dead.keys()], now]) : [];
  const lost = await loseRunning(
    c,
    [...expired, ...orphaned].map((e) => num(e.id)),
    [
      ...expired.map((e) => leaseExpiredReason(String(e.node), num(e.lease_until))),
      ...orphaned.map((o) => deadNodeReason(String(o.node), dead.get(String(o.node))!, nodeTtlMs)),
    ],
    now,
  );
  // Runs a dead node held unwritten (Run.deferred): their fires are all that is stored of them.
  const deferring = await rows(
    c,
    'SELECT name, heartbeat_at, deferred_since FROM nodes WHERE heartbeat_at < $1 AND deferred_since IS NOT NULL ORDER BY name FOR UPDATE SKIP LOCKED',
    [now - nodeTtlMs],
  );
  for (const n of deferring) {
    const name = String(n.name);
    lost.push(...(await loseDeferred(c, name, num(n.deferred_since), deadNodeReason(name, num(n.heartbeat_at), nodeTtlMs), now)));
  }
  const retries = (await retryRuns(c, lost, now)).map((r) => r.run);
  // A queued run for one dead node is not retried: the retry would wait for the same node.
  const orphans = await rows(
    c,
    `SELECT id, target_node FROM runs r WHERE status = 'queued' AND target_node IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = r.target_node AND n.heartbeat_at >= $1) ORDER BY id FOR UPDATE SKIP LOCKED`,
    [now - nodeTtlMs],
  );
  if (orphans.length) {
    const gone = await rows(
      c,
      `UPDATE runs r SET status = 'lost', finished_at = $3, reason = x.reason
       FROM unnest($1::int8[], $2::text[]) AS x(id, reason) WHERE r.id = x.id AND r.status = 'queued'
       RETURNING ${qualified(RUN_COLUMNS, 'r')}`,
      [
        orphans.map((o) => num(o.id)),
        orphans.map((o) => deadTargetReason(String(o.target_node), nodeTtlMs)),
        now,
      ],
    );
    lost.push(...gone.map(runFromRow).sort((a, b) => a.id - b.id));
  }
  return { lost, retries };
}

export async function recoverNodeRunsTx(c: Q, node: string, now: number): Promise<{ lost: Run[]; retries: Run[] }> {
  const ids = await rows(c, "SELECT id FROM runs WHERE status = 'running' AND node = $1 ORDER BY id FOR UPDATE", [node]);
  const reason = `node "${node}" restarted while the run was running`;
  const lost = await loseRunning(c, ids.map((r) => num(r.id)), ids.map(() => reason), now);
  const [self] = await rows(c, 'SELECT deferred_since FROM nodes WHERE name = $1 AND deferred_since IS NOT NULL FOR UPDATE', [node]);
  if (self) lost.push(...(await loseDeferred(c, node, num(self.deferred_since), reason, now)));
  return { lost, retries: (await retryRuns(c, lost, now)).map((r) => r.run) };
}

/**
 * The fires `node` created since $2 (and, when $3 and $4 are given, at exactly $3, of the
 * schedules in $4) that have no run for it: runs it held unwritten (Run.deferred). The runs
 * stored for the instants those fires span are read once (a fire of `all` has runs for other
 * nodes too: only an untargeted one or the node's own counts).
 */
const UNWRITTEN_FIRES = `WITH f AS MATERIALIZED (
    SELECT schedule, scheduled_at, manual, created_at FROM fires
    WHERE created_by = $1 AND created_at >= $2 AND ($3::int8 IS NULL OR (created_at = $3 AND schedule = ANY($4::text[])))),
  span AS (SELECT min(scheduled_at) AS lo, max(scheduled_at) AS hi FROM f),
  r AS MATERIALIZED (
    SELECT runs.schedule, runs.scheduled_at FROM runs, span
    WHERE runs.scheduled_at BETWEEN span.lo AND span.hi AND (runs.target_node IS NULL OR runs.target_node = $1))
  SELECT ${UNWRITTEN_FIRE_COLUMNS}
  FROM f JOIN schedules s ON s.name = f.schedule
  WHERE NOT EXISTS (SELECT 1 FROM r WHERE r.schedule = f.schedule AND r.scheduled_at = f.scheduled_at)
  ORDER BY f.scheduled_at, f.schedule`;

async function unwrittenFires(c: Q, node: string, since: number, exactly?: { at: number; schedules: string[] }): Promise<UnwrittenFire[]> {
  return (await rows(c, UNWRITTEN_FIRES, [node, since, exactly?.at ?? null, exactly?.schedules ?? null])).map(unwrittenFireFromRow);
}

/**
 * Records as `lost` the runs `node` held unwritten, then moves its deferral epoch: whatever it
 * still sends under the old one (a node taken for dead while it ran) is refused, not doubled.
 * The caller holds the node's row FOR UPDATE.
 */
async function loseDeferred(c: Q, node: string, since: number, reason: string, now: number): Promise<Run[]> {
  const lost = await insertRuns(c, (await unwrittenFires(c, node, since)).map((f) => unwrittenFireRun(f, node, 'lost', now, reason)));
  await c.query('UPDATE nodes SET defer_epoch = defer_epoch + 1, deferred_since = NULL WHERE name = $1', [node]);
  return lost;
}

/** See Store.requeueUnanswered: the fires of a call whose answer never came get their runs, queued. */
export async function requeueUnansweredTx(c: Q, node: string, firesAt: number, schedules: string[], now: number): Promise<Run[]> {
  const fires = await unwrittenFires(c, node, firesAt, { at: firesAt, schedules });
  return insertRuns(c, fires.map((f) => unwrittenFireRun(f, node, 'queued', now, null)));
}

export async function cancelRunTx(c: Q, runId: number, reason: string, now: number): Promise<Run> {
  const [row] = await rows(c, `SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1 FOR UPDATE`, [runId]);
  if (!row) throw new NotFoundError('run', String(runId));
  const run = runFromRow(row);
  if (run.status === 'queued') {
    const [r] = await rows(c, `UPDATE runs SET status = 'cancelled', finished_at = $2, reason = $3 WHERE id = $1 RETURNING ${RUN_COLUMNS}`, [runId, now, reason]);
    return runFromRow(r!);
  }
  if (run.status === 'running') {
    const [r] = await rows(c, `UPDATE runs SET cancel_requested = true, reason = $2 WHERE id = $1 RETURNING ${RUN_COLUMNS}`, [runId, reason]);
    return runFromRow(r!);
  }
  if ((FINAL_STATUSES as readonly string[]).includes(run.status)) {
    throw new ConflictError(`run ${runId} is already ${run.status}: only queued or running runs can be cancelled`);
  }
  return run;
}
