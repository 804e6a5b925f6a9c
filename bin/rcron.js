#!/usr/bin/env node
// Kept apart from bin/cronfleet.js: the passive path runs on every node at every cron tick and
// must load only the rcron and syslog modules (no commander, store or scheduler).
'use strict';

import('../dist/compat/rcron/main.js').then((m) => m.rcronMain(process.argv.slice(2))).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`rcron: ${err?.stack ?? err}\n`); process.exitCode = 1; },
);
