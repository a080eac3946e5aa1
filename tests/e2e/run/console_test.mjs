// The sandbox console in a real browser: Анна presses «🆘 Тревога», every guardian is alerted in Telegram,
// Борис's phone rings, he answers and presses 1, the incident is acknowledged and Анна is told.
//
//   node tests/e2e/run/console_test.mjs <console_base_url> <screenshot_path>
//
// Drives Debian's chromium (/usr/bin/chromium, or $CHROMIUM_PATH) through playwright-core from tools/.
// Works on a database that already has incidents: it waits for an incident newer than the newest it saw.
// Every wait is bounded; the whole run stays under 60 s. On failure: <screenshot>.failure.png, the failing
// card's visible text, exit 1.

const playwrightUrl = new URL('../../../tools/node_modules/playwright-core/index.mjs', import.meta.url);
const { chromium } = await import(playwrightUrl.href);

const [baseUrl, screenshotPath] = process.argv.slice(2);
if (!baseUrl || !screenshotPath) {
  console.error('usage: node tests/e2e/run/console_test.mjs <console_base_url> <screenshot_path>');
  process.exit(2);
}

const TOTAL_MS = 55_000;
const started = Date.now();
const deadline = started + TOTAL_MS;
const GUARDIANS = [['boris', 'Борис'], ['vera', 'Вера'], ['gleb', 'Глеб']];

const failurePath = /\.png$/i.test(screenshotPath)
  ? screenshotPath.replace(/\.png$/i, '.failure.png')
  : screenshotPath + '.failure.png';

let page = null;
let browser = null;
let focusKey = null; // the card the current step is about (its text is printed on failure)
const pageErrors = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tid = (id) => `[data-testid="${id}"]`;
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);

class StepError extends Error {}

// Polls check() until it returns a truthy value (which it answers) or the time is up. describe() explains
// what was last seen, for the failure message.
async function waitFor(what, check, { timeout = 15_000, describe } = {}) {
  const begun = Date.now();
  const until = Math.min(begun + timeout, deadline);
  let lastError = null;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      lastError = null;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= until) break;
    await sleep(150);
  }
  let seen = '';
  if (describe) {
    try {
      seen = await describe();
    } catch (err) {
      seen = `(could not read: ${err.message})`;
    }
  }
  const budget = Date.now() >= deadline ? ' (the whole test budget is spent)' : '';
  throw new StepError(`timed out after ${((Date.now() - begun) / 1000).toFixed(1)} s waiting for ${what}${budget}` +
    (seen ? `\n  last seen: ${seen}` : '') + (lastError ? `\n  last error: ${lastError.message}` : ''));
}

async function step(name, key, fn) {
  focusKey = key;
  log(`step: ${name}`);
  try {
    return await fn();
  } catch (err) {
    err.message = `${name}: ${err.message}`;
    throw err;
  }
}

const text = (id) => page.locator(tid(id)).first().textContent({ timeout: 2000 }).then((t) => (t ?? '').trim());
const attr = (id, name) => page.locator(tid(id)).first().getAttribute(name, { timeout: 2000 });

// The chat's messages as [{from, id, text}] (the bubble's text, buttons included).
function messages(key) {
  return page.locator(`${tid('chat-' + key)} .msg`).evaluateAll((nodes) =>
    nodes.map((n) => ({ from: n.dataset.from, id: n.dataset.messageId ?? '', text: n.textContent ?? '' })));
}

async function newBotMessage(key, before, needle) {
  const now = await messages(key);
  return now.find((m) => m.from === 'bot' && !before.has(m.id) && m.text.includes(needle)) || null;
}

async function lastMessages(key, n = 3) {
  const all = await messages(key);
  return JSON.stringify(all.slice(-n).map((m) => `${m.from}#${m.id}: ${m.text.slice(0, 90)}`));
}

async function botIds(key) {
  return new Set((await messages(key)).filter((m) => m.from === 'bot').map((m) => m.id));
}

async function newestIncident() {
  const status = await text('incident-status');
  const id = await attr('incident-status', 'data-incident-id');
  return { status, id: id ? Number(id) : null };
}

async function main() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox'],
    headless: true,
    timeout: 20_000,
  });
  const context = await browser.newContext({ viewport: { width: 1640, height: 1000 }, locale: 'ru-RU' });
  page = await context.newPage();
  page.setDefaultTimeout(5000);
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push('console: ' + msg.text());
  });

  // 1. The page, the seeded demo.
  await step('open the console and wait until the demo is ready', null, async () => {
    await page.goto(baseUrl, { waitUntil: 'domcontentloaded', timeout: 15_000 });
    await waitFor('console-status to say ready', async () => (await attr('console-status', 'data-ready')) === 'true', {
      timeout: 20_000,
      describe: async () => `console-status "${await text('console-status')}"`,
    });
    for (const key of ['anna', ...GUARDIANS.map(([k]) => k)]) {
      await waitFor(`the card person-${key}`, async () => (await page.locator(tid('person-' + key)).count()) === 1, {
        timeout: 5000,
        describe: async () => `cards: ${await page.locator('[data-testid^="person-"]').evaluateAll((n) => n.map((x) => x.dataset.testid).join(', '))}`,
      });
    }
  });

  // 2. The newest incident so far; an open one from an earlier run is canceled first (a second panic while
  //    one is open only says "already raised").
  const before = await step('note the newest incident', 'anna', async () => {
    let newest = await newestIncident();
    log(`newest incident before: ${newest.id ?? 'none'} (${newest.status})`);
    if (newest.status === 'active' || newest.status === 'escalated') {
      log(`incident ${newest.id} is still open: Анна cancels it`);
      await page.locator(tid('input-anna')).fill('/cancel');
      await page.locator(tid('send-anna')).click();
      await waitFor(`incident ${newest.id} to be canceled`, async () => {
        const n = await newestIncident();
        return n.id === newest.id && n.status !== 'active' && n.status !== 'escalated';
      }, { timeout: 10_000, describe: async () => JSON.stringify(await newestIncident()) });
      newest = await newestIncident();
    }
    return newest;
  });

  // Борис is played from this page: his calls must ring here.
  await step('let Борис answer his phone from the console', 'boris', async () => {
    const select = page.locator(tid('phone-mode-boris'));
    if ((await select.inputValue()) !== 'console') {
      await select.selectOption('console');
      await waitFor('phone-mode-boris to be console', async () => (await select.inputValue()) === 'console', { timeout: 5000 });
      await sleep(600); // one poll: the simulator has taken the mode
    }
  });

  const seen = {};
  for (const key of ['anna', ...GUARDIANS.map(([k]) => k)]) seen[key] = await botIds(key);
  const callBefore = (await attr('phone-boris', 'data-call-id')) || '';

  // 3. Panic.
  await step('Анна presses «Тревога»', 'anna', async () => {
    const card = page.locator(tid('person-anna'));
    // Case-sensitive: «Отменить тревогу» is not the panic button.
    const reply = card.locator(`${tid('keyboard-anna')} button`, { hasText: /Тревога/ });
    const inline = card.locator(`${tid('chat-anna')} .msg button`, { hasText: /Тревога/ });
    if ((await reply.count()) > 0) {
      log('pressing the reply-keyboard button');
      await reply.first().click();
    } else if ((await inline.count()) > 0) {
      log('pressing the inline button');
      await inline.last().click();
    } else {
      log('no «Тревога» button shown: typing /panic');
      await page.locator(tid('input-anna')).fill('/panic');
      await page.locator(tid('send-anna')).click();
    }
    await waitFor('a new incident', async () => {
      const n = await newestIncident();
      return n.id !== null && (before.id === null || n.id > before.id);
    }, { timeout: 10_000, describe: async () => `${JSON.stringify(await newestIncident())}; Анна's last messages ${await lastMessages('anna')}` });
  });
  const incident = await newestIncident();
  log(`new incident ${incident.id} (${incident.status})`);

  // 4. Every guardian is alerted in Telegram.
  for (const [key, name] of GUARDIANS) {
    await step(`${name} gets the alert in Telegram`, key, async () => {
      await waitFor(`a new bot message with «Тревога» in chat-${key}`, () => newBotMessage(key, seen[key], 'Тревога'), {
        timeout: 15_000,
        describe: () => lastMessages(key),
      });
    });
  }

  // 5. Борис's phone rings; he answers, hears the alert and presses 1.
  await step('Борис answers the call and presses 1', 'boris', async () => {
    await waitFor('call-state-boris to be ringing (a new call)', async () =>
      (await text('call-state-boris')) === 'ringing' && ((await attr('phone-boris', 'data-call-id')) || '') !== callBefore, {
      timeout: 20_000,
      describe: async () => `call-state "${await text('call-state-boris')}", call ${await attr('phone-boris', 'data-call-id')}, phone mode ${await page.locator(tid('phone-mode-boris')).inputValue()}`,
    });
    await page.locator(tid('answer-boris')).click();
    await waitFor('call-state-boris to be answered', async () => (await text('call-state-boris')) === 'answered', {
      timeout: 10_000,
      describe: async () => `call-state "${await text('call-state-boris')}"`,
    });
    await waitFor('the spoken text and an enabled keypad', async () =>
      (await text('spoken-boris')).length > 0 && (await page.locator(tid('key-boris-1')).isEnabled()), {
      timeout: 10_000,
      describe: async () => `spoken "${await text('spoken-boris')}", key 1 enabled: ${await page.locator(tid('key-boris-1')).isEnabled()}`,
    });
    log(`spoken: ${await text('spoken-boris')}`);
    await page.locator(tid('key-boris-1')).click();
  });

  // 6. Acknowledged; Анна is told who took it.
  await step(`incident ${incident.id} is acknowledged and Анна is told`, 'anna', async () => {
    await waitFor(`incident-status acknowledged for incident ${incident.id}`, async () => {
      const n = await newestIncident();
      return n.id === incident.id && n.status === 'acknowledged';
    }, { timeout: 15_000, describe: async () => JSON.stringify(await newestIncident()) });
    await waitFor('a new bot message mentioning Борис in chat-anna', () => newBotMessage('anna', seen.anna, 'Борис'), {
      timeout: 10_000,
      describe: () => lastMessages('anna'),
    });
    const entries = await page.locator(`${tid('timeline')} .entry`).count();
    if (entries === 0) throw new StepError('the timeline shows no entries for the acknowledged incident');
    log(`timeline entries: ${entries}`);
  });

  // 7. The picture.
  await step('save the screenshot', null, async () => {
    if (pageErrors.length) throw new StepError(`the page reported errors:\n  ${pageErrors.join('\n  ')}`);
    await sleep(400); // let the last poll and the entry animations settle
    await page.screenshot({ path: screenshotPath, fullPage: true });
    log(`screenshot: ${screenshotPath}`);
  });
}

async function reportFailure(err) {
  console.error(`FAIL: ${err && err.message ? err.message : err}`);
  if (pageErrors.length) console.error(`page errors:\n  ${pageErrors.join('\n  ')}`);
  if (page) {
    try {
      await page.screenshot({ path: failurePath, fullPage: true, timeout: 5000 });
      console.error(`failure screenshot: ${failurePath}`);
    } catch (e) {
      console.error(`could not save the failure screenshot: ${e.message}`);
    }
    const ids = focusKey ? [`person-${focusKey}`] : ['console-status'];
    ids.push('timeline');
    for (const id of ids) {
      try {
        const visible = await page.locator(tid(id)).first().innerText({ timeout: 2000 });
        console.error(`--- visible text of ${id} ---\n${visible}\n--- end of ${id} ---`);
      } catch (e) {
        console.error(`could not read ${id}: ${e.message}`);
      }
    }
  }
}

let exitCode = 0;
const watchdog = setTimeout(() => {
  // A hung browser call: report what we can and leave.
  reportFailure(new Error(`the test did not finish within ${TOTAL_MS / 1000 + 3} s`)).finally(() => process.exit(1));
}, TOTAL_MS + 3000);
try {
  await main();
  log('PASS');
} catch (err) {
  exitCode = 1;
  await reportFailure(err);
} finally {
  clearTimeout(watchdog);
  if (browser) await browser.close().catch(() => {});
}
process.exit(exitCode);
