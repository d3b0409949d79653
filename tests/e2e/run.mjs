// Runs the e2e tests with node's test runner and closes with the plain line
// "N passed, N failed". Usage: node run.mjs [test files...]
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
if (!existsSync(path.join(here, 'node_modules', 'playwright-core'))) {
  console.error(`e2e: playwright-core is not installed: run "npm ci" in ${here}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const files = process.argv.slice(2);
if (files.length === 0) files.push(path.join(here, 'types.test.mjs'), path.join(here, 'sdk.test.mjs'), path.join(here, 'calls.test.mjs'), path.join(here, 'echo.test.mjs'), path.join(here, 'bridge.test.mjs'), path.join(here, 'trunk.test.mjs'), path.join(here, 'demo.test.mjs'), path.join(here, 'sip.test.mjs'));
// The tests run from this folder: make the paths given relative to the caller's absolute.
for (const k of ['SB_BINARY', 'SB_WEB_ROOT']) if (process.env[k]) process.env[k] = path.resolve(process.env[k]);
const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: ['ignore', 'pipe', 'inherit'], cwd: here });
let out = '';
child.stdout.on('data', (d) => {
  out += d;
  process.stdout.write(d);
});
const kill = setTimeout(() => child.kill('SIGKILL'), 170000);
child.on('exit', (code, signal) => {
  clearTimeout(kill);
  const num = (re) => Number((out.match(re) || [])[1] || 0);
  const passed = num(/^ℹ pass (\d+)$/m);
  let failed = num(/^ℹ fail (\d+)$/m) + num(/^ℹ cancelled (\d+)$/m);
  if ((code !== 0 || signal) && failed === 0) failed = 1; // the runner itself failed
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
