// The one-screen end of `make test`: per tier (ctest label) how many test binaries and test cases ran, how
// many failed and how long they took, then where the logs and artifacts are.
//   node scripts/test-summary.mjs <start unix seconds> <build dir> [<sanitized build dir>]
// Reads each build dir's ctest-results.xml (ctest --output-junit) and its tests' labels (ctest --show-only).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [start, buildDir, sanitizeDir] = process.argv.slice(2);

function labelsOf(dir) {
  const out = execFileSync('ctest', ['--show-only=json-v1'], { cwd: dir, encoding: 'utf8' });
  const labels = new Map();
  for (const t of JSON.parse(out).tests) {
    const p = (t.properties || []).find((x) => x.name === 'LABELS');
    labels.set(t.name, p ? p.value.join(',') : 'none');
  }
  return labels;
}

function results(dir, prefix) {
  const file = join(dir, 'ctest-results.xml');
  if (!existsSync(file)) return [];
  const xml = readFileSync(file, 'utf8');
  const labels = labelsOf(dir);
  const rows = [];
  for (const m of xml.matchAll(/<testcase name="([^"]*)"[^>]*time="([^"]*)" status="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g)) {
    const [, name, time, status, inner] = m;
    const failed = /<failure/.test(inner) || status === 'fail';
    const cases = Number((inner.match(/Running (\d+) tests? from/) || [])[1] || 0);
    rows.push({ tier: prefix + (labels.get(name) || 'none'), name, time: Number(time), failed, cases,
                notrun: status === 'notrun' });
  }
  return rows;
}

const rows = [...results(buildDir, ''), ...(sanitizeDir ? results(sanitizeDir, 'sanitized ') : [])];
const tiers = new Map();
for (const r of rows) {
  const t = tiers.get(r.tier) || { binaries: 0, cases: 0, failed: [], time: 0 };
  t.binaries += 1;
  t.cases += r.cases;
  t.time += r.time;
  if (r.failed || r.notrun) t.failed.push(r.name);
  tiers.set(r.tier, t);
}
const order = ['unit', 'contract', 'integration', 'e2e', 'deploy'];
const rank = (k) => { const i = order.indexOf(k.replace('sanitized ', '')); return (k.startsWith('sanitized') ? 10 : 0) + (i < 0 ? 9 : i); };
const secs = (s) => (s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s.toFixed(1)} s`);
const failed = rows.filter((r) => r.failed || r.notrun);
const elapsed = Math.round(Date.now() / 1000 - Number(start));
const line = '-'.repeat(74);
console.log(line);
console.log(`make test: ${failed.length ? `FAILED (${failed.length} of ${rows.length} test binaries)` : `passed (${rows.length} test binaries)`} in ${secs(elapsed)}`);
console.log(`  ${'tier'.padEnd(24)}${'binaries'.padStart(9)}${'cases'.padStart(8)}${'failed'.padStart(8)}${'time'.padStart(14)}`);
for (const [k, t] of [...tiers.entries()].sort((a, b) => rank(a[0]) - rank(b[0]))) {
  console.log(`  ${k.padEnd(24)}${String(t.binaries).padStart(9)}${String(t.cases).padStart(8)}${String(t.failed.length).padStart(8)}${secs(t.time).padStart(14)}`);
}
for (const r of failed) console.log(`  FAILED: ${r.name} (${r.tier})`);
const b = resolve(buildDir);
console.log('  logs:      ' + join(b, 'Testing/Temporary/LastTest.log') + (sanitizeDir ? ', ' + join(resolve(sanitizeDir), 'Testing/Temporary/LastTest.log') : ''));
console.log('  results:   ' + join(b, 'ctest-results.xml') + ' (JUnit)');
console.log('  artifacts: ' + join(b, 'artifacts') + ' (the console screenshot, make run logs of the e2e run test)');
console.log(line);
