// `make run` end to end: scripts/run-local.sh itself (the start-up path `make run` takes after building), in a
// temp folder, on ports of its own. It checks:
//  - bad starts say what is wrong in one line and exit 1 at once: a missing binary, a Postgres folder of
//    another version, a second run on the same folder, a port already taken;
//  - a fresh run comes up with the demo family seeded; the browser test (console_test.mjs) drives a panic to
//    acknowledgement through the sandbox console in Chromium (boris answers and presses 1), then a second
//    panic is acknowledged with the alert's button through the console's API (vera), each guardian getting
//    exactly one alert per panic;
//  - SIGINT to the script alone stops every process it started, Postgres too, exit 0;
//  - a run killed with SIGKILL leaves processes that the next run stops before it starts; that run (already
//    seeded) stops on SIGINT sent to its whole process group, exit 0, every process gone.
// Usage (ctest runs it): PROTECTOGRAM_SOURCE_DIR=... PROTECTOGRAM_BIN_DIR=<build>/bin node run_test.mjs
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';

const root = process.env.PROTECTOGRAM_SOURCE_DIR;
const binDir = process.env.PROTECTOGRAM_BIN_DIR;
if (!root || !binDir) throw new Error('PROTECTOGRAM_SOURCE_DIR and PROTECTOGRAM_BIN_DIR must be set');
const buildDir = dirname(binDir);
const artifacts = join(buildDir, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const tmp = mkdtempSync('/tmp/protectogram-run-');
chmodSync(tmp, 0o755); // Postgres runs as `postgres` when the test runs as root: it must reach var/pg
const varDir = join(tmp, 'var');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures += 1;
  return ok;
}
function fatal(what) {
  check(false, what);
  throw new Error(what);
}

// ---- Ports ---------------------------------------------------------------------------------------------------
const basePorts = [8080, 8090, 8091, 8092, 8093, 8094, 8095, 50051, 50052, 50053, 9101, 9102, 9103, 55432];
function free(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
async function pickOffset() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = 1000 + 10 * Math.floor(Math.random() * 900);
    const all = await Promise.all(basePorts.map((p) => free(p + offset)));
    if (all.every(Boolean)) return offset;
  }
  throw new Error('no free port range');
}
const offset = await pickOffset();
const consoleUrl = `http://127.0.0.1:${8090 + offset}`;

// ---- Running the script ----------------------------------------------------------------------------------------
// A run in its own process group (detached), its output collected.
function startRun(env = {}, name = 'run') {
  const clean = { ...process.env };
  for (const k of ['DATABASE_URL', 'HTTP_PORT', 'APP_ENV', 'GRPC_PORT', 'METRICS_PORT']) delete clean[k];
  const child = spawn('bash', [join(root, 'scripts/run-local.sh')], {
    env: { ...clean, RUN_VAR_DIR: varDir, BUILD_DIR: buildDir, RUN_PORT_OFFSET: String(offset), ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run = { child, output: '', exit: null, name };
  const onData = (d) => {
    run.output += d.toString();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  run.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((run.exit = { code, signal }))));
  return run;
}
async function until(predicate, ms, what) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return true;
    await sleep(100);
  }
  return check(false, `${what} (within ${ms / 1000} s)`);
}
async function waitUp(run, ms = 150000) {
  const up = await until(() => run.output.includes('Protectogram is up') || run.exit !== null, ms, `${run.name} comes up`);
  if (!up || run.exit !== null) {
    writeFileSync(join(artifacts, `run-${run.name}.out`), run.output);
    fatal(`${run.name} did not come up:\n${run.output.slice(-3000)}`);
  }
}
async function exitOf(run, ms) {
  const done = await Promise.race([run.exited, sleep(ms).then(() => null)]);
  if (done === null) {
    process.kill(-run.child.pid, 'SIGKILL');
    fatal(`${run.name} did not exit within ${ms / 1000} s:\n${run.output.slice(-2000)}`);
  }
  return done;
}
function children() {
  const file = join(varDir, 'run/children');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
}
function alive(pid) {
  try {
    process.kill(pid, 0);
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.length > 0; // a zombie has none
  } catch {
    return false;
  }
}
function postgresRunning() {
  return existsSync(join(varDir, 'pg/postmaster.pid'));
}

// ---- The console's API --------------------------------------------------------------------------------------------
async function state() {
  const r = await fetch(`${consoleUrl}/api/state`);
  return r.json();
}
async function act(path, body = {}) {
  const r = await fetch(`${consoleUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const j = await r.json();
  if (!j.ok) throw new Error(`${path}: ${r.status} ${j.error}`);
}
const person = (s, key) => s.people.find((p) => p.key === key);
const alertsSince = (p, since) => p.chat.filter((m) => m.from === 'bot' && m.text.includes('Тревога от') && m.at_ms >= since);

// The second panic through the API: vera takes it with the alert's button; each guardian gets one alert.
async function panicAcknowledgedWithTheButton() {
  const before = await state();
  const lastId = before.incidents.length ? before.incidents[0].id : 0;
  const since = Date.now() - 1000;
  await act('/api/people/anna/text', { text: '/panic' });
  let incident = null;
  await until(async () => {
    const s = await state();
    incident = s.incidents.find((i) => i.id > lastId) || null;
    return incident !== null && ['boris', 'vera', 'gleb'].every((k) => alertsSince(person(s, k), since).length > 0);
  }, 20000, 'the second panic alerts every guardian');
  const vera = person(await state(), 'vera');
  const alert = alertsSince(vera, since)[0];
  const button = alert && alert.buttons.flat().find((b) => (b.data || '').startsWith('ack:'));
  if (!check(Boolean(button), 'vera\'s alert has an acknowledge button')) return;
  await act('/api/people/vera/button', { message_id: alert.message_id, data: button.data });
  await until(async () => {
    const s = await state();
    const i = s.incidents.find((x) => x.id === incident.id);
    return i && i.status === 'acknowledged';
  }, 20000, 'the button acknowledges the second incident');
  const s = await state();
  const i = s.incidents.find((x) => x.id === incident.id);
  check(i && i.acknowledged_by === 'Вера', `acknowledged by Вера (got ${i && i.acknowledged_by})`);
  for (const k of ['boris', 'vera', 'gleb']) {
    const n = alertsSince(person(s, k), since).length;
    check(n === 1, `${k} got exactly one alert for the second panic (got ${n})`);
  }
  // The call that was ringing (boris, played from the console) is hung up once vera has it.
  await until(async () => {
    const calls = person(await state(), 'boris').calls;
    return calls.length > 0 && calls.every((c) => c.state === 'ended');
  }, 15000, 'boris\'s ringing call is hung up after the acknowledgement');
}

// ---- The test ---------------------------------------------------------------------------------------------------
try {
  // Bad starts: one line, exit 1, at once.
  {
    const run = startRun({ BUILD_DIR: join(tmp, 'no-build') }, 'missing-binary');
    const { code } = await exitOf(run, 10000);
    check(code === 1 && /protectogram-edge is missing/.test(run.output), `a missing binary is named (exit ${code}): ${run.output.trim()}`);
  }
  {
    mkdirSync(join(varDir, 'pg'), { recursive: true });
    writeFileSync(join(varDir, 'pg/PG_VERSION'), '11\n');
    const run = startRun({}, 'old-postgres');
    const { code } = await exitOf(run, 20000);
    check(code === 1 && /made by PostgreSQL 11/.test(run.output), `a Postgres folder of another version is named (exit ${code}): ${run.output.trim()}`);
    rmSync(join(varDir, 'pg'), { recursive: true, force: true });
  }

  // Run A: fresh.
  const a = startRun({}, 'a');
  await waitUp(a);
  const consoleFirst = a.output.split('\n').find((l) => l.includes('http://'));
  check(consoleFirst && consoleFirst.includes(consoleUrl), 'the console\'s URL is the first address printed');
  {
    const again = startRun({}, 'second');
    const { code } = await exitOf(again, 10000);
    check(code === 1 && /another `make run` is running/.test(again.output), `a second run on the same folder refuses (exit ${code}): ${again.output.trim()}`);
  }
  {
    const other = startRun({ RUN_VAR_DIR: join(tmp, 'var-other') }, 'port-taken');
    const { code } = await exitOf(other, 10000);
    check(code === 1 && new RegExp(`port ${8080 + offset} \\(the edge\\) is already in use`).test(other.output),
          `a port in use is named (exit ${code}): ${other.output.trim()}`);
  }
  const s0 = await state();
  check(s0.ready === true, 'the demo is seeded');
  check(JSON.stringify(s0.people.map((p) => p.key)) === '["anna","boris","vera","gleb"]', 'the demo family is there');

  // The console's API refuses bad input with a clear status and changes nothing.
  {
    const post = async (path, body) => {
      const r = await fetch(`${consoleUrl}${path}`, { method: 'POST', body });
      return [r.status, (await r.json()).error || ''];
    };
    const before = JSON.stringify((await state()).people.map((p) => p.chat.length));
    const cases = [
      ['/api/people/nobody/text', '{"text":"hi"}', 404, /no person/],
      ['/api/people/anna/text', '{"text":', 400, /not a JSON object/],
      ['/api/people/anna/text', '{"text":"   "}', 400, /empty/],
      ['/api/people/anna/button', '{"data":"ack:1"}', 400, /message_id/],
      ['/api/people/anna/phone', '{"mode":"sometimes"}', 400, /unknown phone mode/],
      ['/api/people/anna/dance', '{}', 404, /no action/],
      ['/api/calls/v3:nope/answer', '{}', 404, /no call/],
      ['/api/calls/v3:nope/digit', '{"digit":"x"}', 400, /not a key/],
    ];
    for (const [path, body, status, message] of cases) {
      const [got, error] = await post(path, body);
      check(got === status && message.test(error), `POST ${path} ${body} -> ${status} (got ${got} "${error}")`);
    }
    check(JSON.stringify((await state()).people.map((p) => p.chat.length)) === before, 'refused actions changed no chat');
  }

  // The browser test: a panic to acknowledgement through the page.
  const browser = spawn('node', [join(root, 'tests/e2e/run/console_test.mjs'), consoleUrl, join(artifacts, 'console.png')],
                        { stdio: ['ignore', 'inherit', 'inherit'] });
  const browserCode = await new Promise((resolve) => browser.on('exit', (code) => resolve(code)));
  check(browserCode === 0, `the browser test passes (screenshot: ${join(artifacts, 'console.png')})`);

  await panicAcknowledgedWithTheButton();

  // Scripted phones: Борис is busy, Вера answers after 1 s and presses 1: the cascade moves on and Вера's
  // key acknowledges.
  {
    await act('/api/people/boris/phone', { mode: 'busy' });
    await act('/api/people/vera/phone', { mode: 'answer:1:1' });
    const before = await state();
    const lastId = before.incidents.length ? before.incidents[0].id : 0;
    const borisCalls = person(before, 'boris').calls.length;
    await act('/api/people/anna/text', { text: '/panic' });
    let done = null;
    await until(async () => {
      const s = await state();
      done = s.incidents.find((i) => i.id > lastId && i.status === 'acknowledged') || null;
      return done !== null;
    }, 30000, 'a busy Борис, then Вера answering and pressing 1, acknowledge the third panic');
    const s = await state();
    check(done && done.acknowledged_by === 'Вера', `the third panic is Вера's (got ${done && done.acknowledged_by})`);
    const boris = person(s, 'boris').calls.slice(borisCalls);
    check(boris.length === 1 && boris[0].hangup_cause === 'user_busy', `Борис was called once and was busy (${JSON.stringify(boris.map((c) => c.hangup_cause))})`);
    const [bad1, bad2] = await Promise.all(['answer:x', 'answer:5:x'].map((mode) =>
      fetch(`${consoleUrl}/api/people/vera/phone`, { method: 'POST', body: JSON.stringify({ mode }) }).then((r) => r.status)));
    check(bad1 === 400 && bad2 === 400, `malformed answer modes are refused (${bad1}, ${bad2})`);
    await act('/api/people/boris/phone', { mode: 'console' });
    await act('/api/people/vera/phone', { mode: 'console' });
  }

  // A call that is over takes no more actions (409).
  {
    const ended = person(await state(), 'boris').calls.find((c) => c.state === 'ended');
    const r = ended && (await fetch(`${consoleUrl}/api/calls/${encodeURIComponent(ended.id)}/answer`, { method: 'POST', body: '{}' }));
    check(ended && r.status === 409, `answering an ended call is refused with 409 (got ${r && r.status})`);
  }

  // SIGINT to the script alone.
  const pidsA = children();
  check(pidsA.length === 5, `run A started 5 processes (${pidsA.join(' ')})`);
  process.kill(a.child.pid, 'SIGINT');
  const exitA = await exitOf(a, 40000);
  check(exitA.code === 0, `SIGINT to the script: exit 0 (got ${exitA.code}, ${exitA.signal})`);
  check(pidsA.every((p) => !alive(p)), 'every process of run A has exited');
  check(!postgresRunning(), 'Postgres of run A is stopped');
  writeFileSync(join(artifacts, 'run-a.out'), a.output);

  // Run B, killed: its processes stay behind.
  const b = startRun({}, 'b');
  await waitUp(b);
  const pidsB = children();
  process.kill(b.child.pid, 'SIGKILL');
  await exitOf(b, 5000);
  check(pidsB.some(alive), 'a SIGKILLed run leaves its processes running');

  // Run C: stops what B left, comes up (seeded already), stops on SIGINT to its whole process group.
  const c = startRun({}, 'c');
  await waitUp(c);
  check(/an earlier, killed run left/.test(c.output), 'the next run stops what the killed run left');
  check(pidsB.every((p) => !alive(p)), 'none of the killed run\'s processes is left');
  const pidsC = children();
  process.kill(-c.child.pid, 'SIGINT');
  const exitC = await exitOf(c, 40000);
  check(exitC.code === 0, `SIGINT to the process group: exit 0 (got ${exitC.code}, ${exitC.signal})`);
  check(pidsC.every((p) => !alive(p)), 'every process of run C has exited');
  check(!postgresRunning(), 'Postgres of run C is stopped');
  writeFileSync(join(artifacts, 'run-c.out'), c.output);
} catch (e) {
  console.log(String(e && e.stack ? e.stack : e));
  failures += 1;
} finally {
  // Whatever is left (a failed run) goes; then the folder.
  for (const pid of children()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  if (existsSync(join(varDir, 'pg/postmaster.pid'))) {
    const pgPid = Number(readFileSync(join(varDir, 'pg/postmaster.pid'), 'utf8').split('\n')[0]);
    try {
      process.kill(pgPid, 'SIGQUIT');
    } catch {}
  }
  for (const f of ['incident', 'notification', 'telephony', 'edge', 'sim']) {
    const log = join(varDir, `log/${f}.log`);
    if (existsSync(log)) writeFileSync(join(artifacts, `run-${f}.log`), readFileSync(log));
  }
  await sleep(500);
  rmSync(tmp, { recursive: true, force: true });
}
console.log(failures ? `run_test: ${failures} failed` : 'run_test: all passed');
process.exit(failures ? 1 : 0);
