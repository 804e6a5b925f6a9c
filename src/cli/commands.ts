import type { Command } from 'commander';
import { register as configTools } from './config-tools.js';
import { register as gearmanWorker } from './gearman-worker.js';
import { register as next } from './next.js';
import { register as nodes } from './nodes.js';
import { register as rcron } from './rcron.js';
import { register as runs } from './runs.js';
import { register as schedules } from './schedules.js';
import { register as stateKeeper } from './state-keeper.js';
import { register as serve } from './serve.js';
import { register as submit } from './submit.js';
import { register as token } from './token.js';

/** Every command group registers itself here; one file per group under src/cli/. */
export const commandModules: Array<(program: Command) => void> = [
  serve,
  configTools,
  schedules,
  runs,
  rcron,
  stateKeeper,
  submit,
  gearmanWorker,
  next,
  nodes,
  token,
];
