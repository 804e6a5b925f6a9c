import type { Clock } from '../clock.js';
import { repeat, type Repeating } from '../repeat.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { CreatedFire, FireClaim, FirePlan, PlannedMark, Run, Schedule } from '../store/types.js';
import { compileSchedule, type CompiledSchedule } from '../time/index.js';
import { ownerOf } from './owner.js';
import { planSchedule } from './plan.js';

export interface SchedulerOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  node: string;
  nodeTtlMs: number;
  misfireGraceMs: number;
  /** How often schedules are re-read from the store (API edits, pauses from other processes). */
  refreshMs?: number;
  /** Most instants one schedule's plan covers in one pass (bounds a transaction after long downtime). */
  maxInstantsPerPlan?: number;
  /** Most plans per store call. */
  batchSize?: number;
  /**
   * Fires of `allow` schedules are created this long before their instant, claimable from the
   * instant on, so a burst of fires costs the store nothing at the instant itself. `forbid` and
   * `replace` schedules are judged at their instant, when the previous run's state is known.
   */
  leadMs?: number;
  /**
   * The live schedulers of the cluster, re-read with the schedules. Each schedule is planned by
   * one owner among them (`lead` before its instant), and by the others only `takeoverMs` after
   * the owner should have (not before the instant), if its cursor shows the owner did not: the
   * store sees one fire-creation attempt per fire, and a dead owner costs its share `takeoverMs`
   * − `lead` of lateness (none when the lead is the longer). Without it, this scheduler owns all.
   */
  peers?: () => Promise<Peer[]>;
  takeoverMs?: number;
  /**
   * A scheduler takes its share this long after it started (default: twice refreshMs), by when
   * every other one has re-read the peers and knows of it; all judge this from the same start
   * instants, so the share moves at the same moment everywhere instead of being planned twice
   * while the others' lists are out of date. Until one is warmed up, the oldest one plans all.
   */
  warmupMs?: number;
  onFires?: (fires: CreatedFire[]) => void;
  /**
   * The runs this node's executor takes as their fires are created (asked before each store
   * call, see FireOptions.claim), and where the runs it got go. Without it, every run is queued.
   */
  claim?: (now: number) => FireClaim | null;
  /**
   * Called once for each claim returned, with the runs got; none if the store call failed, and
   * then `unanswered` names the schedules of the call (when the claim went with it).
   */
  onClaimed?: (runs: Run[], claim: FireClaim, unanswered?: string[]) => void;
  /**
   * Where this scheduler says, after each pass, how far it has planned its share (a PlannedMark).
   * Peers read it (Peer.planned) and leave a share to an owner that keeps saying so, however
   * late: they take over only from one that stopped (no word for `takeoverMs`). Without it, a
   * share whose stored cursor has not moved `takeoverMs` after its instant is taken over.
   */
  markPlanned?: (mark: PlannedMark) => Promise<void>;
}

export interface Peer {
  name: string;
  /** When it started, on the store's clock. */
  startedAt: number;
  /** How far its scheduler has planned its share, as it last said. */
  planned?: PlannedMark | null;
}

/** Store calls of one pass under way at once (see pass). */
const PARALLEL_BATCHES = 2;

/** Every schedule is re-read at least this often, whatever the revision says. */
const FULL_READ_MS = 60_000;

interface Entry {
  schedule: Schedule;
  compiled: CompiledSchedule;
  /** The first instant after the cursor; null when the expression has no further instant. */
  nextDue: number | null;
  /** Another's schedule whose owner said it is at work: not looked at again before this instant. */
  recheckAt?: number;
  /** Whether this scheduler owns it, as judged for the owners of generation `ownedIn`. */
  owned?: boolean;
  ownedIn?: number;
}

/**
 * Creates fires when they are due. A single timer is armed for the earliest due instant among
 * all schedules (no fixed-period polling); at that instant the due schedules are planned and
 * sent to the store in batches, where the cursor compare-and-set makes each fire happen once
 * however many schedulers run (invariant 1).
 */
export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private cancelTimer: (() => void) | null = null;
  private refresh: Repeating | null = null;
  private running = false;
  private busy: Promise<void> | null = null;
  private again = false;
  private readonly refreshMs: number;
  private readonly maxInstants: number;
  private readonly batchSize: number;
  private readonly leadMs: number;
  private readonly takeoverMs: number;
  private peerList: Peer[] = [];
  /** The schedulers sharing the schedules as of the last `updateOwners`, sorted. */
  private owners: string[] = [];
  /**
   * Moves when the owners change: an entry's `owned` holds for the generation it was judged in.
   * Kept on the entry, not in a map by name: a pass asks it of every schedule three or four times,
   * and at 12,000 schedules those lookups were the pass's own largest cost at each instant.
   */
  private ownersGen = 0;
  /** Whether this node is among the live schedulers (not, as after losing the store a while: it owns all). */
  private listed = false;
  /** Set when the owners changed: the next pass re-reads the schedules before planning. */
  private ownersChanged = false;
  private readonly warmupMs: number;
  /** The last PlannedMark this scheduler gave. */
  private mark: PlannedMark | null = null;
  /** The schedules' revision at the last full read, and when that was. */
  private revision: number | null = null;
  private readAt = Number.NEGATIVE_INFINITY;
  /** Counters for metrics and tests: `plans` is the number of fire-creation attempts sent to the store. */
  readonly stats = { ticks: 0, plans: 0, stale: 0, fires: 0, errors: 0, takeovers: 0 };

  constructor(private readonly opts: SchedulerOptions) {
    this.refreshMs = opts.refreshMs ?? 5_000;
    this.maxInstants = opts.maxInstantsPerPlan ?? 1_000;
    this.batchSize = opts.batchSize ?? 1_000;
    this.leadMs = opts.leadMs ?? 0;
    // The owner prepares fires `lead` before their instant; one still missing this long after
    // that means the owner is gone or far behind.
    this.takeoverMs = opts.takeoverMs ?? 500;
    this.warmupMs = opts.warmupMs ?? 2 * this.refreshMs;
  }

  /** Recomputes the owners at `now`: the warmed-up peers, or the oldest one while none is. */
  private updateOwners(now: number): void {
    let owners = this.peerList.filter((p) => p.startedAt + this.warmupMs <= now).map((p) => p.name);
    if (owners.length === 0 && this.peerList.length > 0) {
      const oldest = [...this.peerList].sort((a, b) => a.startedAt - b.startedAt || (a.name < b.name ? -1 : 1))[0]!;
      owners = [oldest.name];
    }
    owners.sort();
    if (owners.length !== this.owners.length || owners.some((o, i) => o !== this.owners[i])) {
      // What this scheduler knows of the schedules it did not own may be out of date.
      if (this.owners.length > 0) this.ownersChanged = true;
      this.owners = owners;
      this.ownersGen++;
    }
  }

  /** The next instant a peer finishes warming up, when the owners change. */
  private nextWarmup(now: number): number | null {
    let next: number | null = null;
    for (const p of this.peerList) {
      const at = p.startedAt + this.warmupMs;
      if (at > now && (next === null || at < next)) next = at;
    }
    return next;
  }

  private owns(e: Entry): boolean {
    // Not (yet) among the live schedulers, as after losing the store for a while: it owns all.
    if (!this.listed) return true;
    if (e.ownedIn !== this.ownersGen) {
      e.owned = ownerOf(e.schedule.name, this.owners) === this.opts.node;
      e.ownedIn = this.ownersGen;
    }
    return e.owned!;
  }

  /**
   * When an entry is acted on: by its owner `lead` before its instant (an `allow` schedule's; the
   * others at it), and by the others `takeoverMs` after the owner should have, but not before
   * the instant. A dead owner's fires are then created `takeoverMs` − `lead` after their instant,
   * at it with the defaults (500 ms each). Before the instant, an owner at work keeps its lead to
   * itself: with peers looking half a second into a 2 s lead, three nodes at 12,000 fires a second
   * took 205,926 fires over from owners whose passes ran longer (none when peers waited for the
   * instant).
   */
  private actAt(e: Entry): number | null {
    if (e.nextDue === null) return null;
    const lead = e.schedule.concurrency === 'allow' ? this.leadMs : 0;
    if (!this.owns(e)) return Math.max(e.nextDue + Math.max(0, this.takeoverMs - lead), e.recheckAt ?? 0);
    return e.nextDue - lead;
  }

  async start(): Promise<void> {
    this.running = true;
    await this.reload();
    this.scheduleRefresh();
  }

  /** Stops arming timers and waits for a pass under way. */
  async stop(): Promise<void> {
    this.running = false;
    this.cancelTimer?.();
    this.cancelTimer = null;
    await this.refresh?.stop();
    this.refresh = null;
    await this.busy;
  }

  /** Resolves once no pass is under way (tests advance a manual clock, then wait on this). */
  async settled(): Promise<void> {
    while (this.busy) await this.busy;
  }

  /**
   * Re-reads the peers and, when the schedules' revision moved (or a full minute passed), every
   * schedule; then re-arms the timer. Reading 10,000 unchanged schedules at each refresh cost
   * more than everything else a quiet scheduler does.
   */
  async reload(): Promise<void> {
    await this.refreshPeers();
    const revision = await this.opts.store.schedulesRevision();
    if (revision !== this.revision || this.opts.clock.now() - this.readAt >= FULL_READ_MS) await this.readSchedules(revision);
    this.arm();
  }

  private async readSchedules(revision?: number): Promise<void> {
    // Read before the schedules, so a change made while they are read is seen at the next refresh.
    this.revision = revision ?? (await this.opts.store.schedulesRevision());
    this.readAt = this.opts.clock.now();
    const schedules = await this.opts.store.listSchedules();
    const seen = new Set<string>();
    for (const s of schedules) {
      seen.add(s.name);
      this.upsert(s);
    }
    for (const name of [...this.entries.keys()]) if (!seen.has(name)) this.entries.delete(name);
  }

  private async refreshPeers(): Promise<void> {
    if (!this.opts.peers) return;
    this.peerList = await this.opts.peers();
    this.listed = this.peerList.some((p) => p.name === this.opts.node);
    this.updateOwners(this.opts.clock.now());
  }

  /** The next instant this scheduler will act on, for tests and status output. */
  nextWake(): number | null {
    this.updateOwners(this.opts.clock.now());
    let min: number | null = this.nextWarmup(this.opts.clock.now());
    for (const e of this.entries.values()) {
      const at = this.actAt(e);
      if (at !== null && (min === null || at < min)) min = at;
    }
    return min;
  }

  private upsert(s: Schedule): void {
    if (!s.enabled || s.paused) {
      this.entries.delete(s.name);
      return;
    }
    const prev = this.entries.get(s.name);
    // Unchanged since it was last read: the entry (and the objects it holds) stays.
    if (prev && prev.schedule.updatedAt === s.updatedAt && prev.schedule.cursor === s.cursor) return;
    let compiled: CompiledSchedule;
    try {
      compiled = prev && prev.schedule.expr === s.expr && prev.schedule.timezone === s.timezone
        ? prev.compiled
        : compileSchedule(s.expr, { timezone: s.timezone, name: s.name });
    } catch (err) {
      this.opts.log.error({ schedule: s.name, err: (err as Error).message }, 'schedule has an invalid expression; it will not fire');
      this.entries.delete(s.name);
      return;
    }
    const from = s.cursor ?? this.opts.clock.now();
    this.entries.set(s.name, { schedule: s, compiled, nextDue: s.cursor === null ? from : compiled.nextAfter(from) });
  }

  private scheduleRefresh(): void {
    this.refresh = repeat(this.opts.clock, this.refreshMs, () => this.reload(), (err) =>
      this.opts.log.warn({ err: (err as Error).message }, 'could not re-read schedules; will retry'),
    );
  }

  private arm(): void {
    if (!this.running) return;
    this.cancelTimer?.();
    const next = this.nextWake();
    if (next === null) {
      this.cancelTimer = null;
      return;
    }
    this.cancelTimer = this.opts.clock.setTimer(next - this.opts.clock.now(), () => this.kick());
  }

  /** Runs a pass now (or right after the one under way). */
  kick(): void {
    if (!this.running) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    // The pass begins once the event loop has had a turn: a pass for the instants `lead` ahead is
    // due at an instant itself (for every-second schedules, at each one), and its first batches
    // (planning, JSON) held up the runs held for that instant, whose timer was due with it.
    this.busy = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.pass())
      .then(() => undefined)
      .catch((err: unknown) => {
        this.stats.errors++;
        this.opts.log.error({ err: (err as Error).message }, 'scheduler pass failed; retrying in 1s');
        this.cancelTimer?.();
        this.cancelTimer = this.opts.clock.setTimer(1_000, () => this.kick());
      })
      .finally(() => {
        this.busy = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** One pass: plan every due schedule, apply the plans in batches, then re-arm. */
  async pass(): Promise<CreatedFire[]> {
    this.stats.ticks++;
    let now = this.opts.clock.now();
    this.updateOwners(now);
    if (this.ownersChanged) {
      // Cursors of schedules that were another's moved without this scheduler seeing it.
      this.ownersChanged = false;
      await this.readSchedules();
      now = this.opts.clock.now();
    }
    const takeover: Entry[] = [];
    for (const e of this.entries.values()) {
      const at = this.actAt(e);
      if (at !== null && at <= now && !this.owns(e)) takeover.push(e);
    }
    if (takeover.length > 0) {
      // Another scheduler owns these: act only on the ones whose stored cursor shows it did not,
      // leaving out those whose owner says it planned them, or is at work on them.
      const check = await this.ownersStopped(takeover);
      if (check.length > 0) await this.refreshEntries(check.map((e) => e.schedule.name));
      now = this.opts.clock.now();
    }
    const due: Entry[] = [];
    for (const e of this.entries.values()) {
      const at = this.actAt(e);
      if (at !== null && at <= now) due.push(e);
    }
    // Plans are made a batch at a time, as each is about to be sent: planning 16,000 schedules in
    // one go held the event loop for tens of milliseconds, and the runs due at that very instant
    // (a pass for the instants `lead` ahead starts at one) started that late.
    let planned = 0;
    const nextBatch = (): FirePlan[] => {
      const batch: FirePlan[] = [];
      while (planned < due.length && batch.length < this.batchSize) {
        const e = due[planned++]!;
        const owned = this.owns(e);
        const plan = planSchedule({
          schedule: e.schedule,
          compiled: e.compiled,
          now,
          horizon: owned && e.schedule.concurrency === 'allow' ? now + this.leadMs : now,
          misfireGraceMs: this.opts.misfireGraceMs,
          maxInstants: this.maxInstants,
        });
        if (plan) {
          batch.push(plan);
          if (!owned) this.stats.takeovers++;
        } else {
          e.nextDue = e.compiled.nextAfter(e.schedule.cursor ?? now);
        }
      }
      this.stats.plans += batch.length;
      return batch;
    };
    const created: CreatedFire[] = [];
    const stale: string[] = [];
    // Runs that batches under way may claim: the executor counts them only once they arrive.
    // A fire makes at most one run this node may take (the untargeted one, or its own of `all`).
    let claiming = 0;
    const apply = async (batch: FirePlan[]): Promise<void> => {
      const offer = this.opts.claim?.(now) ?? null;
      const fires = batch.reduce((n, p) => n + p.fires.length, 0);
      const limit = Math.min(fires, (offer?.limit ?? 0) - claiming);
      const claim = offer && limit > 0 ? { ...offer, limit } : null;
      claiming += claim?.limit ?? 0;
      let result;
      try {
        result = await this.opts.store.createDueFires(batch, { now, nodeTtlMs: this.opts.nodeTtlMs, node: this.opts.node, ...(claim && { claim }) });
      } finally {
        claiming -= claim?.limit ?? 0;
        // An offer is always answered, with no runs when the call failed (the executor counts
        // offers out: see Executor.fireClaim), and which schedules' fires it may have created
        // all the same if its answer was lost.
        if (offer && !result) this.opts.onClaimed?.([], offer, claim ? batch.map((p) => p.schedule) : undefined);
      }
      if (offer) {
        const mine = claim ? result.fires.flatMap((f) => f.runs.filter((r) => r.status === 'running' && r.node === this.opts.node)) : [];
        this.opts.onClaimed?.(mine, offer);
      }
      const byName = new Map(batch.map((p) => [p.schedule, p]));
      for (const name of result.applied) {
        const e = this.entries.get(name);
        const plan = byName.get(name)!;
        if (!e) continue;
        // In place: the entry's schedule is this scheduler's own copy, and a new object per fire
        // (1,000 a second) lived until the schedule's next fire, long enough to reach the old generation.
        e.schedule.cursor = plan.toCursor;
        e.nextDue = e.compiled.nextAfter(plan.toCursor);
      }
      stale.push(...result.stale);
      created.push(...result.fires);
    };
    // Batches are sent PARALLEL_BATCHES at a time: each one waits on its own round trips and
    // commit, and one after the other they could not create more than ~12,000 fires a second.
    // They hold disjoint schedules, each batch locking its own in name order.
    const lane = async (): Promise<void> => {
      for (let batch = nextBatch(); batch.length > 0; batch = nextBatch()) await apply(batch);
    };
    const atWork = this.sayAtWork();
    try {
      await Promise.all(Array.from({ length: PARALLEL_BATCHES }, lane));
    } finally {
      atWork();
    }
    this.stats.stale += stale.length;
    this.stats.fires += created.length;
    if (stale.length > 0) await this.refreshStale(stale);
    await this.markPlanned();
    if (created.length > 0) {
      this.logFires(created);
      this.opts.onFires?.(created);
    }
    this.arm();
    return created;
  }

  /** The owners, and the schedule revision they were judged with: a PlannedMark holds for peers seeing the same. */
  private view(): string {
    return `${this.owners.join(',')}@${String(this.revision)}`;
  }

  /**
   * Of the entries another scheduler owns and has not been seen to plan, those to check for a
   * takeover: not the ones its mark says it planned, nor any of an owner that said how far it got
   * less than `takeoverMs` ago (it is alive and at work, if behind: taking its share then only
   * doubled the work of an overloaded cluster). Without marks, all of them.
   */
  private async ownersStopped(entries: Entry[]): Promise<Entry[]> {
    if (!this.opts.markPlanned) return entries;
    await this.refreshPeers();
    const marks = new Map(this.peerList.map((p) => [p.name, p.planned ?? null]));
    const view = this.view();
    const now = this.opts.clock.now();
    return entries.filter((e) => {
      if (this.owns(e) || e.nextDue === null) return true;
      const owner = ownerOf(e.schedule.name, this.owners);
      const mark = owner === null ? null : marks.get(owner);
      if (!mark || mark.view !== view) return true;
      if (mark.through >= e.nextDue) {
        // Planned by its owner: the next instant to watch is after what it covered.
        e.nextDue = e.compiled.nextAfter(mark.through);
        return false;
      }
      if (now - mark.at > this.takeoverMs) return true;
      // Its owner is at work on it: looked at again once the owner had time to say more.
      e.recheckAt = now + this.atWorkEveryMs();
      return false;
    });
  }

  /** How often a scheduler at work says so: a third of the takeover delay. */
  private atWorkEveryMs(): number {
    return Math.max(1, Math.floor(this.takeoverMs / 3));
  }

  /** Says how far this scheduler has planned the schedules it owns (see SchedulerOptions.markPlanned). */
  private async markPlanned(): Promise<void> {
    if (!this.opts.markPlanned || !this.listed) return;
    let through = Number.MAX_SAFE_INTEGER;
    for (const e of this.entries.values()) {
      if (e.nextDue !== null && e.nextDue - 1 < through && this.owns(e)) through = e.nextDue - 1;
    }
    const now = this.opts.clock.now();
    const last = this.mark;
    // The same word said moments ago (a pass that only looked at others' shares): peers have it.
    if (last && last.through === through && last.view === this.view() && now - last.at < this.atWorkEveryMs()) return;
    this.mark = { through, view: this.view(), at: now };
    try {
      await this.opts.markPlanned(this.mark);
    } catch (err) {
      // The fires are made; unsaid, peers check this share's cursors as they would without marks.
      this.opts.log.warn({ err: (err as Error).message }, 'could not say how far the scheduler planned');
    }
  }

  /**
   * While a pass sends its batches, says every third of `takeoverMs` that this scheduler is at
   * work (its last mark, new time), so peers do not take over a share it is about to plan: an
   * overloaded pass, or one of its batches, takes longer than `takeoverMs`. Returns the stop.
   */
  private sayAtWork(): () => void {
    const say = this.opts.markPlanned;
    if (!say) return () => undefined;
    const saying = repeat(
      this.opts.clock,
      this.atWorkEveryMs(),
      async () => {
        const last = this.mark;
        if (!last || last.view !== this.view()) return;
        this.mark = { ...last, at: this.opts.clock.now() };
        await say(this.mark);
      },
      (err) => this.opts.log.debug({ err: (err as Error).message }, 'could not say the scheduler is at work'),
    );
    // Not awaited: the pass ends now; a word still on its way only refreshes the same mark.
    return () => void saying.stop();
  }

  private async refreshStale(names: string[]): Promise<void> {
    await this.refreshEntries(names);
    await this.refreshPeers();
  }

  /** Re-reads some schedules (one query when there are many). */
  private async refreshEntries(names: string[]): Promise<void> {
    if (names.length > 50) {
      const wanted = new Set(names);
      const found = new Set<string>();
      for (const s of await this.opts.store.listSchedules()) {
        if (!wanted.has(s.name)) continue;
        found.add(s.name);
        this.upsert(s);
      }
      for (const name of names) if (!found.has(name)) this.entries.delete(name);
      return;
    }
    for (const name of names) {
      const s = await this.opts.store.getSchedule(name);
      if (s) this.upsert(s);
      else this.entries.delete(name);
    }
  }

  private logFires(fires: CreatedFire[]): void {
    const log = this.opts.log;
    if (!log.isLevelEnabled('debug') && fires.length > 20) {
      log.info({ fires: fires.length }, 'fires created');
      return;
    }
    for (const f of fires) {
      for (const r of f.runs) {
        if (r.status === 'skipped') {
          log.warn({ schedule: f.schedule, scheduledAt: new Date(f.scheduledAt).toISOString(), run: r.id, reason: r.reason }, 'fire skipped');
        } else {
          log.info({ schedule: f.schedule, scheduledAt: new Date(f.scheduledAt).toISOString(), run: r.id, task: r.task }, 'fire created');
        }
      }
    }
  }
}
