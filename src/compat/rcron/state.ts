import { readFileSync } from 'node:fs';
import type { RcronState } from './conf.js';

export interface StateReading {
  state: RcronState;
  /** Set when the default was used: why, for the syslog warning. */
  problem: string | null;
}

/**
 * The state file holds `active` or `passive` (surrounding whitespace allowed, as keepalived
 * notify scripts write `echo active > file`). Anything else falls back to the default.
 */
export function readState(stateFile: string, defaultState: RcronState): StateReading {
  let text: string;
  try {
    text = readFileSync(stateFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return { state: defaultState, problem: `state file ${stateFile} cannot be read (${code})` };
  }
  const word = text.trim();
  if (word === 'active' || word === 'passive') return { state: word, problem: null };
  const shown = word.length > 40 ? `${word.slice(0, 40)}...` : word;
  return { state: defaultState, problem: `state file ${stateFile} holds ${JSON.stringify(shown)}, expected active or passive` };
}
