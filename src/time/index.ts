/** The time engine: when is a schedule due. Pure functions of (expression, zone, name, instant). */
export { compileSchedule, COMPILED_LIMIT } from './schedule.js';
export type { CompiledSchedule, CompileOptions } from './schedule.js';
export { validateTimezone, systemTimezone, formatInstant, offsetAt, wallTimeAt, instantOfWallTime } from './zone.js';
export type { WallTime } from './zone.js';
export { jitterOffset, hash32 } from './hash.js';
export { parseExpression, usesHash, MIN_EVERY_MS } from './expression.js';
export type { ParsedExpression } from './expression.js';
export { parseDuration, formatDuration } from './duration.js';
export { parseInstant } from './instant.js';
