import type { Clock } from '../clock.js';
import type { NodeConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Store } from '../store/store.js';
import type { NodeInfo } from '../store/types.js';
import type { TokenCache } from './auth.js';
import type { NodeMetrics } from './metrics.js';

/** What the routes need from the node serving them. */
export interface ApiContext {
  store: Store;
  clock: Clock;
  config: NodeConfig;
  node: NodeInfo;
  log: Logger;
  /** Exposed at /metrics when present. */
  metrics?: NodeMetrics | null;
  /** Set by the server: recently seen live tokens. */
  tokens?: TokenCache;
}
