import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * pino: JSON lines for machines, readable lines when stderr is a terminal.
 * Logs go to stderr so command output on stdout stays clean for scripts.
 */
export function createLogger(opts: { level: string; name?: string; pretty?: boolean }): Logger {
  const pretty = opts.pretty ?? process.stderr.isTTY === true;
  const base = { level: opts.level, base: opts.name ? { node: opts.name } : null };
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino(base, pino.destination({ dest: 2, sync: false }));
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
