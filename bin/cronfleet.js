#!/usr/bin/env node
// CommonJS, unlike the rest: it runs before the libuv thread pool exists (see helper-threads).
'use strict';
require('../dist/helper-threads.cjs').lowerHelperThreadPriority();

import('../dist/cli/main.js').then((m) => m.main(process.argv)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`cronfleet: ${err?.stack ?? err}\n`); process.exitCode = 1; },
);
