import { renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces the state file in one rename, so rcron (and anything else reading it) sees the old
 * word or the new one, never an empty or half-written file. The temp file sits in the same
 * directory because rename is atomic only within one filesystem.
 */
export function writeStateFile(path: string, state: 'active' | 'passive'): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, `${state}\n`);
  renameSync(tmp, path);
}
