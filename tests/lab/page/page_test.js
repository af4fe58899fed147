// page_test.js - drives the dosips page in Chromium headless during a lab
// flood (tests/lab/e2e_page.sh runs it inside the client's namespace).
//
//   node page_test.js URL ADMIN_TOKEN VIEWER_TOKEN ATTACKER SHOT_DIR DONE_FILE
//
// Prints one line per finding for the shell to judge: READY (flood may
// start), BAN_SEEN <epoch s> (the attacker's row appeared in the bans
// table), CHART <before> <after> (packets the chart holds), HISTORY_FOUND,
// TOKENLESS <status>, VIEWER_UNBAN <status>, UNBANNED <epoch s>,
// AUDIT <text of the audit row>; the unban waits for DONE_FILE (the flood
// is over); FAIL <why> and exit 1 on anything else.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [url, admin, viewer, attacker, shots, done] = process.argv.slice(2);
const now = () => Date.now() / 1000;
const say = (...a) => console.log(a.join(' '));

async function post(page, p, token, body) {
  return page.evaluate(async (p, token, body) => {
    const h = { 'Content-Type': 'application/json' };
    if (token) h.Authorization = 'Bearer ' + token;
    const r = await fetch(p, { method: 'POST', headers: h, body: JSON.stringify(body) });
    return r.status;
  }, p, token, body);
}

async function history(page, event, src, want) {
  await page.select('#h-since', '');
  await page.select('#h-event', event);
  await page.$eval('#h-src', (e, v) => { e.value = v; }, src);
  for (let i = 0; i < 50; i++) {
    await page.click('#histform button');
    try {
      await page.waitForFunction((w) => [...document.querySelectorAll('#history tbody tr')]
        .some((tr) => tr.textContent.includes(w)), { timeout: 300, polling: 'mutation' }, want);
      return page.$$eval('#history tbody tr', (rows, w) =>
        rows.map((r) => r.textContent).find((t) => t.includes(w)), want);
    } catch (e) { /* not yet written: the store writes once per loop round */ }
  }
  return null;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dosips-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    userDataDir: dir,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--user-data-dir=${dir}`],
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => say('PAGEERROR', JSON.stringify(e.message)));
    page.on('requestfailed', (r) => say('REQFAIL', r.url(), r.failure().errorText));
    page.on('dialog', (d) => { say('DIALOG', JSON.stringify(d.message())); d.accept(); });
    await page.setViewport({ width: 1280, height: 1000 });

    // Without a token, off loopback: nothing.
    say('TOKENLESS', (await fetch(url + 'api/state')).status);

    await page.goto(url + '#token=' + admin);
    try {
      await page.waitForFunction(() => document.getElementById('role').textContent === 'admin',
        { timeout: 20000 });
    } catch (e) {
      say('URL', page.url(), JSON.stringify((await page.content()).slice(0, 400)));
      throw e;
    }
    await new Promise((r) => setTimeout(r, 1500));
    const before = await page.$eval('#chart', (c) => Number(c.dataset.total || 0));
    say('READY');

    await page.waitForSelector(`#bans tbody tr[data-src="${attacker}"]`,
      { timeout: 60000, polling: 'mutation' });
    say('BAN_SEEN', now().toFixed(6));
    await new Promise((r) => setTimeout(r, 2500));
    const after = await page.$eval('#chart', (c) => Number(c.dataset.total || 0));
    say('CHART', before, after);
    const row = await history(page, 'ban', attacker, attacker);
    say(row ? 'HISTORY_FOUND' : 'HISTORY_MISSING', JSON.stringify(row || ''));

    await page.screenshot({ path: path.join(shots, 'page-desktop.png') });
    await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 1, isMobile: true });
    await new Promise((r) => setTimeout(r, 1200));
    await page.screenshot({ path: path.join(shots, 'page-phone.png') });
    await page.setViewport({ width: 1280, height: 1000 });

    for (let i = 0; i < 300 && !fs.existsSync(done); i++) await new Promise((r) => setTimeout(r, 100));
    say('VIEWER_UNBAN', await post(page, '/api/unban', viewer, { src: attacker }));
    // Clicked from inside the page: the table is redrawn as events come,
    // so a button found first and clicked later may be gone.
    await page.$eval(`#bans tbody tr[data-src="${attacker}"] button`, (b) => b.click());
    await page.waitForSelector(`#bans tbody tr[data-src="${attacker}"]`,
      { hidden: true, timeout: 10000, polling: 'mutation' });
    say('UNBANNED', now().toFixed(6));

    const audit = await history(page, 'control', '', 'unbanned ' + attacker);
    say('AUDIT', JSON.stringify(audit || ''));
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { say('FAIL', e.message); process.exit(1); });
