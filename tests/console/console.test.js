'use strict';
// The web console in a real browser: Debian's Chromium driven by playwright-core, against the real
// `adminstats demo` (its organisation, its credentials). Every page is opened, its charts checked
// as drawn, its numbers compared with what the API returns to the same app, and a screenshot of
// each saved under target/console-screenshots/ for a person to look at.
//
//   NODE_PATH=$(bash scripts/node-env.sh tests/console) ADMINSTATS_BIN=target/debug/adminstats node --test tests/console/

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const REPO = path.resolve(__dirname, '..', '..');
const BIN = process.env.ADMINSTATS_BIN || path.join(REPO, 'target', 'debug', 'adminstats');
const SHOTS = path.join(REPO, 'target', 'console-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const NOW = '2026-11-21T10:00:00+08:00'; // day 2026-11-20 is published (cn)
const OPERATOR = 'op-console-test-token';

let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch {
  ({ chromium } = require(path.join(REPO, 'target', 'console', 'node', 'node_modules', 'playwright-core')));
}

let demo; // { child, base, apps: [{tenant, app_id, app_secret, description}] }
let browser;

// Starts `adminstats demo` and reads its guide: the URL and every app's credentials.
function startDemo() {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'adminstats-console-'));
  const child = spawn(BIN, ['demo', '--listen', '127.0.0.1:0', '--data', data, '--users', '600', '--days', '200',
    '--now', NOW, '--admin-token', OPERATOR], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.resume();
  return new Promise((resolve, reject) => {
    const out = { child, base: null, apps: [], data };
    let tenant = null;
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let m;
      if ((m = /^listening on (http:\/\/\S+)$/.exec(line))) out.base = m[1];
      else if ((m = /^tenant (\S+) /.exec(line))) tenant = m[1];
      else if ((m = /^\s+app_id (\S+)\s+app_secret (\S+)\s+— (.*)$/.exec(line))) {
        out.apps.push({ tenant, app_id: m[1], app_secret: m[2], description: m[3] });
      } else if (/^Stop with Ctrl-C/.test(line)) resolve(out);
    });
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`demo exited with ${code}`)));
  });
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  demo = await startDemo();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (demo) {
    demo.child.kill('SIGTERM');
    fs.rmSync(demo.data, { recursive: true, force: true });
  }
});

const fullApp = () => demo.apps.find((a) => a.tenant === 'nebula-cn' && /whole tenant, user and department stats, employee ids/.test(a.description));
const scopedApp = () => demo.apps.find((a) => a.tenant === 'nebula-cn' && /only department/.test(a.description));

// A new browser tab that fails the test on any script error or Content-Security-Policy violation.
async function newPage(viewport = { width: 1280, height: 800 }, locale = 'en-US') {
  const context = await browser.newContext({ viewport, locale, acceptDownloads: true });
  const page = await context.newPage();
  page.problems = [];
  // (A refused sign-in answers 401, which Chromium reports as a failed resource: not a problem.)
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) page.problems.push(m.text());
  });
  page.on('pageerror', (e) => page.problems.push(e.message));
  return page;
}

async function signInApp(page, app) {
  await page.goto(`${demo.base}/console/`);
  await page.fill('#app_id', app.app_id);
  await page.fill('#app_secret', app.app_secret);
  await page.click('#app-form button[type=submit]');
  await page.waitForURL('**/console/overview');
}

// Every chart on the page, as ECharts holds it: id, series count, points of the first series.
async function charts(page) {
  await page.waitForFunction(() => document.body.dataset.chartsReady !== undefined);
  return page.evaluate(() => Array.from(document.querySelectorAll('.chart')).map((el) => {
    const inst = window.echarts.getInstanceByDom(el);
    const opt = inst ? inst.getOption() : { series: [] };
    return { id: el.id, series: opt.series.length, points: opt.series.length ? opt.series[0].data.length : 0,
      drawn: !!el.querySelector('canvas') };
  }));
}

// A table of the page as { columns: [key], rows: [[data-value]] }.
async function table(page, id) {
  return page.evaluate((id) => {
    const t = document.querySelector(`table[data-table="${id}"]`);
    if (!t) return null;
    const columns = Array.from(t.querySelectorAll('thead th')).map((th) => th.dataset.key);
    const rows = Array.from(t.querySelectorAll('tbody tr')).filter((tr) => !tr.querySelector('td.empty'))
      .map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.dataset.value));
    return { columns, rows };
  }, id);
}

async function token(app) {
  const r = await fetch(`${demo.base}/open-apis/auth/v3/tenant_access_token/internal`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ app_id: app.app_id, app_secret: app.app_secret }),
  });
  return (await r.json()).tenant_access_token;
}

async function api(tok, path, params) {
  const r = await fetch(`${demo.base}${path}?${new URLSearchParams(params)}`, { headers: { authorization: `Bearer ${tok}` } });
  const body = await r.json();
  assert.equal(body.code, 0, JSON.stringify(body));
  return body.data;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

function dates(first, n) {
  const out = [];
  const d = new Date(`${first}T00:00:00Z`);
  for (let i = 0; i < n; i++) {
    out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

test('a wrong secret is refused with the API message, and the overview shows the API numbers', async () => {
  const app = fullApp();
  const page = await newPage();
  await page.goto(`${demo.base}/console/`);
  await shot(page, 'sign-in');
  await page.fill('#app_id', app.app_id);
  await page.fill('#app_secret', 'not-the-secret');
  await page.click('#app-form button[type=submit]');
  assert.match(await page.textContent('#signin-error'), /app secret invalid/);
  await page.waitForTimeout(1100); // failed sign-ins are slowed down: one second after the first
  await signInApp(page, app);
  assert.match(await page.textContent('#status'), /Data up to 2026-11-20; 2026-11-21 will be published at 2026-11-22 09:30/);

  for (const days of [7, 30, 90, 180]) {
    await page.selectOption('#period', String(days));
    await page.waitForURL(`**/console/overview?*period=${days}*`);
    const drawn = await charts(page);
    assert.equal(drawn.length, 3, JSON.stringify(drawn));
    assert.deepEqual(drawn.map((c) => c.series), [2, 6, 2]);
    for (const c of drawn) {
      assert.equal(c.points, days, `${c.id} over ${days} days`);
      assert.ok(c.drawn, c.id);
    }
    if (days === 30) await shot(page, 'overview');
  }
  // The overview of the last 30 days equals admin_dept_stats for the root department, field by field.
  await page.selectOption('#period', '30');
  await page.waitForURL('**/console/overview?*period=30*');
  const t = await table(page, 'daily');
  assert.equal(t.rows.length, 30);
  const tok = await token(app);
  const items = [];
  for (const [start, end] of [['2026-10-22', '2026-11-10'], ['2026-11-11', '2026-11-20']]) {
    let pageToken = '';
    for (;;) {
      const params = { department_id_type: 'open_department_id', department_id: '0', contains_child_dept: 'true',
        start_date: start, end_date: end, page_size: '20' };
      if (pageToken) params.page_token = pageToken;
      const data = await api(tok, '/open-apis/admin/v1/admin_dept_stats', params);
      items.push(...data.items);
      if (!data.has_more) break;
      pageToken = data.page_token;
    }
  }
  assert.equal(items.length, 30);
  t.rows.forEach((row, i) => {
    t.columns.forEach((key, j) => assert.equal(row[j], String(items[i][key]), `${key} on ${items[i].date}`));
  });
  // And the department sums behind it equal the users' own rows, day by day (the export).
  const exp = await fetch(`${demo.base}/open-apis/admin/v1/admin_user_stats/export?start_date=2026-10-22&end_date=2026-11-20`,
    { headers: { authorization: `Bearer ${tok}` } });
  const active = {};
  for (const line of (await exp.text()).trim().split('\n')) {
    const r = JSON.parse(line);
    if (r.date) active[r.date] = (active[r.date] || 0) + r.suite_active_flag;
  }
  const dau = t.columns.indexOf('suite_dau');
  t.rows.forEach((row) => assert.equal(Number(row[dau]), active[row[0]], `active users on ${row[0]}`));
  // Headline figures carry the change against the previous 30 days.
  const kpis = await page.$$eval('.kpi', (els) => els.map((e) => e.textContent));
  assert.equal(kpis.length, 8);
  assert.ok(kpis.every((k) => /vs previous 30 days/.test(k)), kpis.join('|'));
  assert.deepEqual(page.problems, []);
});

test('departments drill down, compare sub-departments, and switch sub-departments off', async () => {
  const page = await newPage();
  await signInApp(page, fullApp());
  await page.click('nav.side a.nav-departments');
  await page.waitForURL('**/console/departments*');
  const root = await table(page, 'children');
  assert.ok(root.rows.length >= 3, 'the top-level departments');
  let drawn = await charts(page);
  assert.deepEqual(drawn.map((c) => c.id), ['chart-trend', 'chart-children']);
  assert.equal(drawn[1].points, root.rows.length);
  await shot(page, 'departments');
  // Into the largest department: its own trend, its sub-departments, a way back.
  const biggest = root.rows.reduce((a, b) => (Number(b[2]) > Number(a[2]) ? b : a));
  await page.click(`table[data-table="children"] a:text-is("${biggest[0]}")`);
  await page.waitForURL(`**/console/departments?dept=${biggest[1]}*`);
  assert.equal(await page.textContent('h1'), biggest[0]);
  assert.ok(await page.isVisible('.crumbs a'));
  const trend = await table(page, 'trend');
  assert.equal(Number(trend.rows[trend.rows.length - 1][1]), Number(biggest[2]), 'users on the last day, as in the comparison');
  // The same department without its sub-departments has fewer users (or as many).
  await page.click('#toggle-children');
  await page.waitForURL('**children=false*');
  const own = await table(page, 'trend');
  assert.ok(Number(own.rows[own.rows.length - 1][1]) <= Number(biggest[2]));
  await page.click('#dept-users');
  await page.waitForURL(`**/console/users?dept=${biggest[1]}*`);
  // Everyone with a row in the period, so at least the users of its last day.
  const listed = Number((await page.textContent('#pager')).match(/· ([\d,]+) users/)[1].replace(/,/g, ''));
  assert.ok(listed >= Number(biggest[2]), `${listed} users listed, ${biggest[2]} on the last day`);
  assert.deepEqual(page.problems, []);
});

test('users are searched, sorted and paged; one user has a calendar that matches the API', async () => {
  const app = fullApp();
  const page = await newPage();
  await signInApp(page, app);
  await page.click('nav.side a.nav-users');
  await page.waitForURL('**/console/users*');
  const first = await table(page, 'users');
  assert.equal(first.rows.length, 50);
  assert.match(await page.textContent('#pager'), /Page 1 of \d+ · [\d,]+ users/);
  await shot(page, 'users');
  // Sorted by messages sent, most first.
  await page.click('th[data-key="send_messenger_num"] a');
  await page.waitForURL('**sort=send_messenger_num**');
  const sorted = await table(page, 'users');
  const col = sorted.columns.indexOf('send_messenger_num');
  const values = sorted.rows.map((r) => Number(r[col]));
  assert.deepEqual(values, [...values].sort((a, b) => b - a));
  assert.ok(values[0] > 0);
  await page.click('#next-page');
  await page.waitForURL('**page=2**');
  const second = await table(page, 'users');
  assert.ok(Number(second.rows[0][col]) <= values[values.length - 1]);
  // Search by a name.
  const name = first.rows[3][0];
  await page.fill('#q', name);
  await page.press('#q', 'Enter');
  await page.waitForURL('**q=**');
  const found = await table(page, 'users');
  assert.ok(found.rows.length >= 1 && found.rows.every((r) => r[0].toLowerCase().includes(name.toLowerCase())));
  // One user: a calendar heatmap of every day, and the day's numbers equal admin_user_stats.
  await page.click(`table[data-table="users"] a:text-is("${name}")`);
  await page.waitForURL('**/console/users/ou_*');
  const openId = new URL(page.url()).pathname.split('/').pop();
  const drawn = await charts(page);
  assert.equal(drawn.length, 1);
  assert.equal(drawn[0].points, 30);
  const days = await table(page, 'days');
  await shot(page, 'user');
  const tok = await token(app);
  const data = await api(tok, '/open-apis/admin/v1/admin_user_stats', {
    start_date: '2026-10-22', end_date: '2026-11-20', user_id_type: 'open_id', user_id: openId, page_size: '60' });
  assert.equal(days.rows.length, data.items.length);
  days.rows.forEach((row, i) => {
    days.columns.forEach((key, j) => {
      const v = key === 'suite_active_flag' ? data.items[i].suite_active_flag : data.items[i][key];
      assert.equal(row[j], String(v), `${key} on ${data.items[i].date}`);
    });
  });
  // Its CSV download is exactly the table, and the export endpoint's rows for that user.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv-days')]);
  const csv = fs.readFileSync(await download.path(), 'utf8').replace(/^\uFEFF/, '').trim().split('\r\n');
  assert.deepEqual(csv[0].split(','), days.columns);
  assert.equal(csv.length - 1, days.rows.length);
  csv.slice(1).forEach((line, i) => assert.equal(line.split(',')[1], days.rows[i][1]));
  const exp = await fetch(`${demo.base}/open-apis/admin/v1/admin_user_stats/export?${new URLSearchParams({
    start_date: '2026-10-22', end_date: '2026-11-20', user_id_type: 'open_id', user_id: openId })}`,
  { headers: { authorization: `Bearer ${tok}` } });
  const exported = (await exp.text()).trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.date);
  assert.equal(exported.length, days.rows.length);
  exported.forEach((r, i) => assert.equal(String(r.send_messenger_num), days.rows[i][days.columns.indexOf('send_messenger_num')]));
  assert.deepEqual(page.problems, []);
});

test('clients, the language switch and the keyboard', async () => {
  const page = await newPage();
  await signInApp(page, fullApp());
  await page.goto(`${demo.base}/console/clients?period=30`);
  const drawn = await charts(page);
  assert.equal(drawn.length, 5);
  assert.equal(drawn[0].points, 30);
  assert.ok(drawn.every((c) => c.drawn && c.series >= 1));
  const platforms = await table(page, 'platforms');
  assert.ok(platforms.rows.length >= 3);
  await shot(page, 'clients');
  // 中文
  await page.click('#lang-switch');
  await page.waitForURL('**/console/clients*');
  assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
  assert.match(await page.textContent('nav.side'), /概览/);
  assert.match(await page.textContent('#status'), /数据截至 2026-11-20/);
  await shot(page, 'clients-zh');
  await page.click('#lang-switch');
  await page.waitForURL('**/console/clients*');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  // The keyboard alone: the skip link first, then the navigation.
  await page.goto(`${demo.base}/console/overview`);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  let reached = false;
  for (let i = 0; i < 15 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement.classList.contains('nav-users'));
  }
  assert.ok(reached, 'the Users link is reachable with Tab');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/console/users*');
  // Charts are readable as tables without a mouse: every chart has its table.
  await page.goto(`${demo.base}/console/overview`);
  assert.equal(await page.locator('details#table-daily').count(), 1);
  assert.deepEqual(page.problems, []);
});

test('a sub-tree app sees only its sub-tree; the operator sees every tenant and the operator page', async () => {
  const scoped = scopedApp();
  const page = await newPage();
  await signInApp(page, scoped);
  // It may not read department statistics: the overview says why, and there is no Departments link.
  assert.match(await page.textContent('.note'), /admin:admin_dept_stat:readonly/);
  assert.equal(await page.locator('nav.side a.nav-departments').count(), 0);
  await page.goto(`${demo.base}/console/users?period=7`);
  // Exactly the users the API lists to this app over the same 7 days.
  const tok = await token(scoped);
  const seen = new Set();
  let pt = '';
  for (;;) {
    const params = { start_date: '2026-11-14', end_date: '2026-11-20', user_id_type: 'open_id', page_size: '60' };
    if (pt) params.page_token = pt;
    const data = await api(tok, '/open-apis/admin/v1/admin_user_stats', params);
    data.items.forEach((i) => seen.add(i.user_id));
    if (!data.has_more) break;
    pt = data.page_token;
  }
  assert.match(await page.textContent('#pager'), new RegExp(` ${seen.size} users`));
  const listed = new Set();
  for (let n = 1; ; n++) {
    const t = await table(page, 'users');
    const links = await page.$$eval('table[data-table="users"] tbody a', (as) => as.map((a) => a.getAttribute('href').split('?')[0].split('/').pop()));
    links.forEach((id) => listed.add(id));
    assert.equal(links.length, t.rows.length);
    if (!(await page.locator('#next-page').count())) break;
    await page.click('#next-page');
    await page.waitForURL(`**page=${n + 1}**`);
  }
  assert.deepEqual([...listed].sort(), [...seen].sort());
  await shot(page, 'users-scoped');

  const op = await newPage({ width: 1280, height: 800 });
  await op.goto(`${demo.base}/console/`);
  await op.fill('#admin_token', OPERATOR);
  await op.click('#operator-form button[type=submit]');
  await op.waitForURL('**/console/overview');
  await op.click('nav.side a.nav-operator');
  await op.waitForURL('**/console/operator*');
  const tenants = await table(op, 'tenants');
  assert.deepEqual(tenants.rows.map((r) => r[0]), ['nebula-cn', 'nebula-sg']);
  assert.ok(Number(tenants.rows[0][3]) > 0, 'the demo\'s ingestion is counted');
  const published = await table(op, 'days');
  assert.equal(published.rows[0][0], '2026-11-20');
  const drawn = await charts(op);
  assert.equal(drawn[0].points, 60);
  await shot(op, 'operator');
  await op.selectOption('#tenant', 'nebula-sg');
  await op.waitForURL('**tenant=nebula-sg**');
  assert.match(await op.textContent('.tenant-form'), /Nebula Technology/);
  assert.deepEqual(op.problems, []);
});

test('every page fits a phone', async () => {
  const page = await newPage({ width: 390, height: 844 });
  await signInApp(page, fullApp());
  for (const p of ['overview', 'departments', 'users', 'clients']) {
    await page.goto(`${demo.base}/console/${p}`);
    await charts(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${p} is ${overflow}px wider than the phone`);
    await shot(page, `phone-${p}`);
  }
  assert.deepEqual(page.problems, []);
});
