/**
 * Node arguments that start a bench script's role the way bin/cronfleet.js starts cronfleet:
 * V8's helper threads are lowered to nice 19 from CommonJS, before the ES module (and with it
 * the libuv thread pool) loads; see src/helper-threads.cts. `process.argv` then reads as if
 * the script had been started directly with `args`.
 */
import { fileURLToPath } from 'node:url';

const HELPER_THREADS = fileURLToPath(new URL('../dist/helper-threads.cjs', import.meta.url));

export function asCronfleet(script, args, nodeArgs = []) {
  const boot = [
    `require(${JSON.stringify(HELPER_THREADS)}).lowerHelperThreadPriority();`,
    `process.argv.splice(1, 0, ${JSON.stringify(script)});`,
    `import(${JSON.stringify(script)});`,
  ].join(' ');
  return [...nodeArgs, '-e', boot, '--', ...args];
}
