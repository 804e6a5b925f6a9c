import type { NotifyEvent } from '../../config/types.js';
import type { Run } from '../../store/types.js';
import { runJson } from '../json.js';

/** The JSON body of a webhook, and the source of a mail's subject and text. */
export interface Notification {
  event: NotifyEvent;
  schedule: string;
  /** The node that sends it. */
  node: string;
  at: string;
  summary: string;
  run: ReturnType<typeof runJson>;
}

export function notification(event: NotifyEvent, run: Run, node: string, now: number): Notification {
  const what = run.signal ? `signal ${run.signal}` : run.exitCode !== null ? `exit ${run.exitCode}` : (run.reason ?? 'no exit status');
  const summary =
    event === 'recovered'
      ? `${run.schedule} recovered: run ${run.id} succeeded after failures`
      : event === 'lost'
        ? `${run.schedule}: run ${run.id} was lost on node ${run.node ?? '?'} (${run.reason ?? 'its node stopped heartbeating'})`
        : event === 'timed_out'
          ? `${run.schedule}: run ${run.id} timed out on node ${run.node ?? '?'}${run.reason ? ` (${run.reason})` : ''}`
          : `${run.schedule}: run ${run.id} failed on node ${run.node ?? '?'} (${what}, attempt ${run.attempt})`;
  return { event, schedule: run.schedule, node, at: new Date(now).toISOString(), summary, run: runJson(run) };
}
