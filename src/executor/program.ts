import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

export type ProgramLookup = { path: string } | { error: string };

function executable(path: string): 'ok' | 'missing' | 'not-executable' {
  try {
    if (!statSync(path).isFile()) return 'not-executable';
    accessSync(path, constants.X_OK);
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES' ? 'not-executable' : 'missing';
  }
}

/**
 * Finds the file execvp would run for `program`, the way a shell does: a name with a slash
 * is taken as a path (relative to the task's cwd), a bare name is looked up in PATH. Tasks
 * may be started through wrappers (nice), whose own "not found" would otherwise look like an
 * exit status of the task; looking the program up first turns it into a spawn error.
 */
export function findProgram(program: string, pathVar: string | undefined, cwd: string): ProgramLookup {
  if (program === '') return { error: 'the program name is empty: expected a path or a command name' };
  if (program.includes('/')) {
    const full = isAbsolute(program) ? program : resolve(cwd, program);
    const state = executable(full);
    if (state === 'ok') return { path: full };
    return { error: state === 'missing' ? `program ${full} does not exist (ENOENT)` : `program ${full} is not an executable file (EACCES)` };
  }
  let sawNotExecutable = false;
  for (const dir of (pathVar ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir === '' ? cwd : resolve(cwd, dir), program);
    const state = executable(candidate);
    if (state === 'ok') return { path: candidate };
    if (state === 'not-executable') sawNotExecutable = true;
  }
  return sawNotExecutable
    ? { error: `program "${program}" was found in PATH but is not executable (EACCES)` }
    : { error: `program "${program}" was not found in PATH=${pathVar ?? ''} (ENOENT)` };
}
