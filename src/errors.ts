/**
 * Named errors with stable codes. Every error that reaches an operator says what was
 * wrong and what was expected; `code` is stable so scripts and API clients can match on it.
 */
export class CronfleetError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A config value is wrong. `path` is the dotted path inside the file (`schedules.2.cron`). */
export class ConfigError extends CronfleetError {
  readonly path: string;
  readonly file: string | undefined;
  readonly line: number | undefined;
  constructor(path: string, message: string, file?: string, line?: number) {
    super('CF_ERR_CONFIG', `${file ? `${file}: ` : ''}${line ? `line ${line}: ` : ''}${path ? `${path}: ` : ''}${message}`);
    this.path = path;
    this.file = file;
    this.line = line;
  }
}

/** A cron expression is wrong. `field` names the position (`minute`, `day-of-week`, ...). */
export class CronSyntaxError extends CronfleetError {
  readonly field: string;
  readonly text: string;
  readonly expected: string;
  constructor(field: string, text: string, expected: string) {
    super('CF_ERR_CRON_SYNTAX', `${field}: "${text}" ${expected}`);
    this.field = field;
    this.text = text;
    this.expected = expected;
  }
}

/** Bytes on a wire that do not follow the protocol. `offset` counts from the start of the stream. */
export class ProtocolError extends CronfleetError {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super('CF_ERR_PROTOCOL', `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

/** The command line was wrong: exit status 2. */
export class UsageError extends CronfleetError {
  constructor(message: string) {
    super('CF_ERR_USAGE', message);
  }
}

export class NotFoundError extends CronfleetError {
  constructor(what: string, name: string) {
    super('CF_ERR_NOT_FOUND', `${what} "${name}" does not exist`);
  }
}

/** A store operation was refused because it conflicts with the current state. */
export class ConflictError extends CronfleetError {
  constructor(message: string) {
    super('CF_ERR_CONFLICT', message);
  }
}

export class StoreError extends CronfleetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CF_ERR_STORE', message, options);
  }
}
