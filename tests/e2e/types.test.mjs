// The hand-written declarations (web/sdk/index.d.ts) type-check typical use
// under --strict, and refuse what they must refuse (@ts-expect-error lines).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

test('index.d.ts type-checks a usage file under --strict', { timeout: 60000 }, () => {
  const tsc = path.join(here, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--lib', 'es2022,dom', '--target', 'es2022',
    '--module', 'es2022', '--moduleResolution', 'bundler', path.join(here, 'types', 'usage.ts')], { encoding: 'utf8', timeout: 55000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
