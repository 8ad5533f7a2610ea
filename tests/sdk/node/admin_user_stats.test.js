'use strict';
// The official Node SDK (@larksuiteoapi/node-sdk) against the real
// `adminstats demo`, with only `domain` changed: every page of a 31-day range
// through the SDK, compared with the server's own NDJSON export.
//
//   NODE_PATH=$(bash scripts/node-env.sh) node --test tests/sdk/node/
//
// Env: ADMINSTATS_BIN (default target/debug/adminstats), NODE_SDK_RPS (request
// starts per second per app, default 17; the server allows 20),
// NODE_SDK_STARTUP_SECS (default 120), KEEP_DATA=1 keeps the demo's data dir.

const assert = require('node:assert/strict');
const { describe, test, before, after } = require('node:test');
const {
  loadLark,
  sdkVersion,
  quietLogger,
  startDemo,
  Pacer,
  paced,
  httpError,
  tenantToken,
  fetchExport,
  sleep,
} = require('./harness');

const NOW = '2026-11-21T10:00:00+08:00';
const DEMO_ARGS = ['--users', '2000', '--days', '31', '--listen', '127.0.0.1:0', '--now', NOW];
const TENANT = 'nebula-cn'; // geo cn: UTC+8
const TENANT_UTC_OFFSET_MIN = 8 * 60;
const PAGE_SIZE = 60;
const RPS = Number(process.env.NODE_SDK_RPS) || 17;
const MAX_PAGES = 5000;
const STARTUP_SECS = Number(process.env.NODE_SDK_STARTUP_SECS) || 120; // a debug build generates and ingests first

// api.md, "Each item — exact JSON types".
const STRING_FIELDS = [
  'date', 'user_id', 'user_name', 'department_name', 'department_path',
  'create_time', 'register_time', 'last_active_time', 'active_os', 'app_package_type', 'os_name',
];
const FLAG_FIELDS = [
  'user_active_flag', 'suite_active_flag', 'im_active_flag', 'docs_active_flag',
  'cal_active_flag', 'vc_active_flag', 'search_active_flag',
];
const COUNT_FIELDS = ['send_messenger_num', 'create_docs_num', 'create_cal_num', 'create_task_num', 'vc_num', 'vc_duration'];
const NUMBER_FIELDS = [...FLAG_FIELDS, ...COUNT_FIELDS];
const INT64_FIELDS = [
  'email_send_count', 'email_receive_count', 'email_send_ext_count', 'email_receive_ext_count',
  'email_send_in_count', 'email_receive_in_count', 'total_search_count', 'quick_search_count', 'tab_search_count',
];
const ALL_FIELDS = [...STRING_FIELDS, ...NUMBER_FIELDS, ...INT64_FIELDS].sort();

// Day D is published at 09:30 tenant-local on D+1 (events.md).
function lastPublishedDay(nowIso, offsetMin) {
  const local = new Date(Date.parse(nowIso) + offsetMin * 60_000);
  const minutes = local.getUTCHours() * 60 + local.getUTCMinutes();
  const today = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate());
  return new Date(today - (minutes >= 9 * 60 + 30 ? 1 : 2) * 86_400_000);
}
const isoDay = (d) => d.toISOString().slice(0, 10);
const END = lastPublishedDay(NOW, TENANT_UTC_OFFSET_MIN);
const START_DATE = isoDay(new Date(END.getTime() - 30 * 86_400_000));
const END_DATE = isoDay(END);

const lark = loadLark();
const sdkLogs = [];
const pacers = new Map(); // appId -> Pacer: the limit is per app
const pacerFor = (appId) => {
  if (!pacers.has(appId)) pacers.set(appId, new Pacer(RPS));
  return pacers.get(appId);
};
function newClient(app, base) {
  return new lark.Client({
    appId: app.appId,
    appSecret: app.appSecret,
    domain: base,
    loggerLevel: lark.LoggerLevel.error,
    logger: quietLogger(sdkLogs),
  });
}

// One SDK list call per page, following page_token to the end.
async function listEveryPage(listFn, appId, params, stats) {
  const items = [];
  let pageToken;
  for (let page = 0; ; page++) {
    assert.ok(page < MAX_PAGES, `more than ${MAX_PAGES} pages: the page_token chain does not end`);
    const res = await paced(
      () => listFn({ params: { ...params, page_size: PAGE_SIZE, ...(pageToken ? { page_token: pageToken } : {}) } }),
      pacerFor(appId),
      stats,
      `admin_user_stats page ${page + 1}`,
    );
    stats.pages += 1;
    assert.equal(res.code, 0, `page ${page + 1}: code ${res.code} ${res.msg}`);
    assert.equal(res.msg, 'success', `page ${page + 1}: msg`);
    const data = res.data;
    assert.ok(data && Array.isArray(data.items), `page ${page + 1}: data.items is not an array: ${JSON.stringify(res).slice(0, 300)}`);
    assert.equal(typeof data.has_more, 'boolean', `page ${page + 1}: has_more`);
    assert.ok(data.items.length <= PAGE_SIZE, `page ${page + 1}: ${data.items.length} items > page_size ${PAGE_SIZE}`);
    items.push(...data.items);
    if (!data.has_more) {
      assert.ok(!('page_token' in data), `last page carries a page_token ${JSON.stringify(data.page_token)} (api.md: only when has_more)`);
      return items;
    }
    assert.ok(typeof data.page_token === 'string' && data.page_token !== '', `page ${page + 1}: has_more without a page_token`);
    assert.notEqual(data.page_token, pageToken, `page ${page + 1}: the same page_token again`);
    pageToken = data.page_token;
  }
}

// The SDK's own iterator, where the SDK has one for this API (1.74.0 has not).
async function listWithSdkIterator(iterFn, appId, params, stats) {
  const items = [];
  const pacer = pacerFor(appId);
  await pacer.wait();
  for await (const page of await iterFn({ params: { ...params, page_size: PAGE_SIZE } })) {
    stats.pages += 1;
    stats.requests += 1;
    // The iterator swallows errors and yields null / {} and stops: a 429 would
    // end it early. The comparison with the export catches that.
    assert.ok(page && Array.isArray(page.items), `iterator page ${stats.pages}: ${JSON.stringify(page)}`);
    items.push(...page.items);
    assert.ok(stats.pages < MAX_PAGES, `more than ${MAX_PAGES} pages from the iterator`);
    await pacer.wait();
  }
  return items;
}

const keyOf = (row) => `${row.date}\u0000${row.user_id}`;
const cmpKey = (a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0);

function typeProblems(row) {
  const problems = [];
  const keys = Object.keys(row).sort();
  if (JSON.stringify(keys) !== JSON.stringify(ALL_FIELDS)) {
    const missing = ALL_FIELDS.filter((k) => !(k in row));
    const extra = keys.filter((k) => !ALL_FIELDS.includes(k));
    problems.push(`fields: missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}`);
  }
  for (const f of STRING_FIELDS) if (typeof row[f] !== 'string') problems.push(`${f} is ${typeof row[f]}`);
  for (const f of NUMBER_FIELDS) if (typeof row[f] !== 'number' || !Number.isInteger(row[f]) || row[f] < 0) problems.push(`${f}=${JSON.stringify(row[f])} is not a non-negative integer number`);
  for (const f of FLAG_FIELDS) if (row[f] !== 0 && row[f] !== 1) problems.push(`${f}=${JSON.stringify(row[f])} is not 0/1`);
  for (const f of INT64_FIELDS) if (typeof row[f] !== 'string' || !/^(0|[1-9][0-9]*)$/.test(row[f])) problems.push(`${f}=${JSON.stringify(row[f])} is not a string of digits`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(row.date)) problems.push(`date ${JSON.stringify(row.date)}`);
  for (const f of ['create_time', 'register_time', 'last_active_time']) {
    if (typeof row[f] === 'string' && row[f] !== '' && !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(row[f])) problems.push(`${f} ${JSON.stringify(row[f])}`);
  }
  return problems;
}

function sums(rows) {
  const out = {};
  for (const f of NUMBER_FIELDS) out[f] = 0;
  for (const f of INT64_FIELDS) out[f] = 0n;
  for (const row of rows) {
    for (const f of NUMBER_FIELDS) out[f] += row[f];
    for (const f of INT64_FIELDS) out[f] += BigInt(row[f]);
  }
  for (const f of INT64_FIELDS) out[f] = out[f].toString();
  for (const f of NUMBER_FIELDS) assert.ok(Number.isSafeInteger(out[f]), `sum of ${f} overflows a double`);
  return out;
}

function firstDiffs(a, b, limit = 5) {
  const diffs = [];
  for (let i = 0; i < Math.min(a.length, b.length) && diffs.length < limit; i++) {
    const fields = ALL_FIELDS.filter((f) => a[i][f] !== b[i][f]);
    if (fields.length) diffs.push(`#${i} ${a[i].date}/${a[i].user_id}: ${fields.map((f) => `${f} ${JSON.stringify(a[i][f])} vs ${JSON.stringify(b[i][f])}`).join(', ')}`);
  }
  return diffs;
}

describe(`admin_user_stats through @larksuiteoapi/node-sdk ${sdkVersion()}`, () => {
  let demo;
  let fullApp; // first app of nebula-cn: whole tenant, employee ids
  let secondWholeApp; // another whole-tenant custom app of nebula-cn (own rate-limit bucket)
  let burstApp; // an app used only for the 429 check

  before(async () => {
    const t0 = Date.now();
    demo = await startDemo({ args: DEMO_ARGS, startupMs: STARTUP_SECS * 1000 });
    const apps = demo.tenants.get(TENANT);
    if (!apps || apps.length === 0) {
      throw new Error(demo.describeFailure(`no apps printed for tenant ${TENANT}`));
    }
    fullApp = apps[0];
    assert.match(fullApp.description, /custom app/i, `first ${TENANT} app is not a custom app: ${fullApp.description}`);
    assert.match(fullApp.description, /whole tenant/i, `first ${TENANT} app is not whole-tenant: ${fullApp.description}`);
    const custom = apps.slice(1).filter((a) => /custom app/i.test(a.description));
    secondWholeApp = custom.find((a) => /whole tenant/i.test(a.description)) || null;
    burstApp = custom.find((a) => a !== secondWholeApp) || null;
    process.stderr.write(`adminstats demo up at ${demo.base} after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }, { timeout: (STARTUP_SECS + 15) * 1000 });

  after(async () => {
    if (!demo) return;
    const t0 = Date.now();
    const r = await demo.stop();
    process.stderr.write(`adminstats stopped ${((Date.now() - t0) / 1000).toFixed(1)} s after SIGTERM: ${JSON.stringify(r)}\n`);
    assert.ok(r.graceful, `adminstats did not exit within 15 s of SIGTERM (killed)\n${demo.stderrTail()}`);
  }, { timeout: 30_000 });

  test('invalid parameters come back through the SDK as HTTP 500, code 1051001', { timeout: 30_000 }, async () => {
    const client = newClient(fullApp, demo.base);
    const cases = [
      [{ start_date: '2026-02-30', end_date: '2026-03-01' }, /start_date/],
      [{ start_date: END_DATE, end_date: START_DATE }, /start_date|end_date/],
      [{ start_date: isoDay(new Date(END.getTime() - 31 * 86_400_000)), end_date: END_DATE }, /end_date|start_date|31|30/],
      [{ start_date: START_DATE, end_date: END_DATE, page_size: 61 }, /page_size/],
      [{ start_date: START_DATE, end_date: END_DATE, page_token: 'not-a-token' }, /page_token/],
    ];
    for (const [params, msgRe] of cases) {
      const stats = { requests: 0, retries429: 0 };
      let caught;
      try {
        const res = await paced(() => client.admin.adminUserStat.list({ params }), pacerFor(fullApp.appId), stats, 'bad params');
        assert.fail(`${JSON.stringify(params)} was accepted: code ${res.code} ${res.msg}`);
      } catch (e) {
        caught = e;
      }
      // The SDK rejects with axios' error for any non-2xx; paced() rewraps it.
      assert.equal(caught.status, 500, `${JSON.stringify(params)}: ${caught.message}`);
      assert.equal(caught.body.code, 1051001, `${JSON.stringify(params)}: ${caught.message}`);
      assert.match(caught.body.msg, msgRe, `${JSON.stringify(params)}: msg should name the parameter`);
      assert.match(String(caught.headers['content-type']), /^application\/json/);
      assert.ok(caught.body.error && caught.body.error.log_id === caught.headers['x-tt-logid'],
        `${JSON.stringify(params)}: error.log_id ${JSON.stringify(caught.body.error)} != X-Tt-Logid ${caught.headers['x-tt-logid']}`);
    }
  });

  test('user_id_type=user_id: employee ids for the app that has the scope, 99991672 for one that has not', { timeout: 30_000 }, async (t) => {
    const client = newClient(fullApp, demo.base);
    const pacer = pacerFor(fullApp.appId);
    const stats = { requests: 0, retries429: 0 };
    const params = { start_date: END_DATE, end_date: END_DATE, page_size: PAGE_SIZE };
    const byOpen = await paced(() => client.admin.adminUserStat.list({ params }), pacer, stats, 'open_id page');
    const byEmp = await paced(() => client.admin.adminUserStat.list({ params: { ...params, user_id_type: 'user_id' } }), pacer, stats, 'user_id page');
    assert.equal(byOpen.code, 0);
    assert.equal(byEmp.code, 0);
    const a = byOpen.data.items;
    const b = byEmp.data.items;
    assert.equal(b.length, a.length);
    assert.ok(a.length > 0);
    // Still ordered by open_id: the same users in the same order, only user_id differs.
    for (let i = 0; i < a.length; i++) {
      assert.deepEqual({ ...b[i], user_id: a[i].user_id }, a[i], `item #${i} differs beyond user_id`);
      assert.ok(typeof b[i].user_id === 'string' && b[i].user_id !== '' && !b[i].user_id.startsWith('ou_'),
        `item #${i}: user_id ${JSON.stringify(b[i].user_id)} looks like an open_id`);
    }
    if (!secondWholeApp) return t.skip('no second whole-tenant app to check the refusal');
    const other = newClient(secondWholeApp, demo.base);
    let caught;
    try {
      const res = await paced(() => other.admin.adminUserStat.list({ params: { ...params, user_id_type: 'user_id' } }),
        pacerFor(secondWholeApp.appId), stats, 'user_id without the scope');
      assert.fail(`accepted without the employee-id scope: code ${res.code}`);
    } catch (e) {
      caught = e;
    }
    assert.equal(caught.status, 400, caught.message);
    assert.equal(caught.body.code, 99991672, caught.message);
    assert.match(caught.body.msg, /contact:user\.employee_id:readonly/);
    assert.deepEqual(caught.body.error && caught.body.error.permission_violations,
      [{ type: 'action_scope_required', subject: 'contact:user.employee_id:readonly' }]);
  });

  test('a burst over 20 req/s is refused by a 429 that the SDK surfaces as an axios error', { timeout: 30_000 }, async (t) => {
    if (!burstApp) return t.skip(`no spare custom app in ${TENANT} for the burst`);
    const client = newClient(burstApp, demo.base);
    const params = { start_date: END_DATE, end_date: END_DATE, page_size: 1 };
    const BURST = 45;
    const warm = await client.admin.adminUserStat.list({ params }); // fetches and caches the token
    assert.equal(warm.code, 0);
    const startedAt = Date.now();
    const outcomes = await Promise.all(
      Array.from({ length: BURST }, () => client.admin.adminUserStat.list({ params }).then((r) => ({ ok: r }), (e) => ({ e }))),
    );
    const limited = outcomes.filter((o) => o.e);
    const passed = outcomes.filter((o) => o.ok);
    t.diagnostic(`burst of ${BURST}: ${passed.length} passed, ${limited.length} refused`);
    // At most 20 pass per second the burst touches (a burst under a second straddles at most two
    // windows: 40; through the PAIR mode's proxy it may take longer).
    const windows = Math.ceil((Date.now() - startedAt) / 1000) + 1;
    assert.ok(passed.length <= 20 * windows, `${passed.length} of a burst of ${BURST} passed (limit 20/s, ${windows} windows)`);
    assert.ok(limited.length >= 1, `no request of a burst of ${BURST} was refused`);
    for (const { ok } of passed) assert.equal(ok.code, 0);
    let reset = 1;
    for (const { e } of limited) {
      assert.ok(e.isAxiosError && e.response, `not an axios error with a response: ${e}`);
      const r = e.response;
      assert.equal(r.status, 429, httpError(e, 'burst').message);
      assert.equal(r.data.code, 99991400);
      assert.match(r.data.msg, /^request trigger frequency limit/);
      assert.equal(r.headers['x-ogw-ratelimit-limit'], '20');
      assert.match(String(r.headers['x-ogw-ratelimit-reset']), /^[1-9][0-9]*$/);
      assert.equal(r.data.error && r.data.error.log_id, r.headers['x-tt-logid']);
      reset = Math.max(reset, Number(r.headers['x-ogw-ratelimit-reset']));
    }
    await sleep(reset * 1000 + 50);
    const again = await client.admin.adminUserStat.list({ params });
    assert.equal(again.code, 0, 'still refused after x-ogw-ratelimit-reset seconds');
  });

  test(`every page of ${START_DATE}..${END_DATE} through the SDK equals the server's export`, { timeout: 150_000 }, async (t) => {
    const t0 = Date.now();
    const params = { start_date: START_DATE, end_date: END_DATE };

    // Pass A: client.admin.adminUserStat.list, page by page.
    const clientA = newClient(fullApp, demo.base);
    const statsA = { pages: 0, requests: 0, retries429: 0 };
    const passA = listEveryPage((p) => clientA.admin.adminUserStat.list(p), fullApp.appId, params, statsA);

    // Pass B, concurrently on another whole-tenant app (its own rate-limit
    // bucket): the SDK's iterator if it has one, else client.admin.v1.*.list.
    const appB = secondWholeApp || fullApp;
    const clientB = newClient(appB, demo.base);
    const statsB = { pages: 0, requests: 0, retries429: 0 };
    const resB = clientB.admin.v1 && clientB.admin.v1.adminUserStat;
    const iterFn = (clientB.admin.adminUserStat && clientB.admin.adminUserStat.listWithIterator) || (resB && resB.listWithIterator);
    let passBHow;
    let passB;
    if (typeof iterFn === 'function') {
      passBHow = 'listWithIterator';
      passB = listWithSdkIterator((p) => iterFn(p), appB.appId, params, statsB);
    } else {
      const listB = resB && typeof resB.list === 'function' ? resB.list : clientB.admin.adminUserStat.list;
      passBHow = `${resB && typeof resB.list === 'function' ? 'client.admin.v1' : 'client.admin'}.adminUserStat.list (the SDK has no listWithIterator for admin_user_stats)`;
      passB = listEveryPage((p) => listB(p), appB.appId, params, statsB);
    }

    // The Rust side's own figures, fetched independently of the SDK.
    const exportP = tenantToken(demo.base, fullApp.appId, fullApp.appSecret).then((token) => fetchExport(demo.base, token, params));

    const [itemsA, itemsB, exp] = await Promise.all([passA, passB, exportP]);
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    t.diagnostic(`pass A (${fullApp.appId}, client.admin.adminUserStat.list): ${itemsA.length} items, ${statsA.pages} pages, ${statsA.requests} requests, ${statsA.retries429} 429-retries`);
    t.diagnostic(`pass B (${appB.appId}, ${passBHow}): ${itemsB.length} items, ${statsB.pages} pages, ${statsB.requests} requests, ${statsB.retries429} 429-retries`);
    t.diagnostic(`export: ${exp.rows.length} rows, trailer ${JSON.stringify(exp.trailer)}, content-type ${exp.contentType}; ${secs} s in all at ${RPS} req/s per app`);

    // The export: trailer and row count.
    assert.equal(exp.trailer.done, true, `trailer ${JSON.stringify(exp.trailer)}`);
    assert.deepEqual(Object.keys(exp.trailer).sort(), ['done', 'rows'], `trailer ${JSON.stringify(exp.trailer)}`);
    assert.equal(exp.trailer.rows, exp.rows.length, 'export trailer rows != lines streamed');
    assert.ok(exp.rows.length > 0, 'the export is empty: nothing to compare');

    // The SDK listing: count, types, order, uniqueness, date range.
    assert.equal(itemsA.length, exp.trailer.rows, 'SDK items != export rows');
    const typeBad = [];
    for (const [i, row] of itemsA.entries()) {
      const p = typeProblems(row);
      if (p.length) typeBad.push(`#${i} ${row.date}/${row.user_id}: ${p.join('; ')}`);
    }
    assert.deepEqual(typeBad.slice(0, 5), [], `${typeBad.length} SDK items break api.md's types`);
    for (let i = 1; i < itemsA.length; i++) {
      const c = cmpKey(itemsA[i - 1], itemsA[i]);
      assert.ok(c < 0, `SDK items #${i - 1} and #${i} are ${c === 0 ? 'the same (date, user_id)' : 'out of order'}: ` +
        `${itemsA[i - 1].date}/${itemsA[i - 1].user_id} then ${itemsA[i].date}/${itemsA[i].user_id}`);
    }
    const dates = [...new Set(itemsA.map((r) => r.date))];
    assert.ok(dates[0] >= START_DATE && dates[dates.length - 1] <= END_DATE, `dates ${dates[0]}..${dates[dates.length - 1]} outside ${START_DATE}..${END_DATE}`);
    assert.equal(dates[dates.length - 1], END_DATE, `the last published day ${END_DATE} has no rows`);
    t.diagnostic(`${dates.length} distinct dates ${dates[0]}..${dates[dates.length - 1]}, ${new Set(itemsA.map((r) => r.user_id)).size} distinct users`);

    // Every (date, user_id) of the export exactly once in the SDK listing.
    const byKey = new Map(itemsA.map((r) => [keyOf(r), r]));
    assert.equal(byKey.size, itemsA.length);
    const seen = new Set();
    const missing = [];
    for (const row of exp.rows) {
      const k = keyOf(row);
      assert.ok(!seen.has(k), `export repeats ${row.date}/${row.user_id}`);
      seen.add(k);
      if (!byKey.has(k)) missing.push(`${row.date}/${row.user_id}`);
    }
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} export rows are not in the SDK listing`);

    // Sums of every number and every int64 string.
    const sumSdk = sums(itemsA);
    const sumExp = sums(exp.rows);
    t.diagnostic(`sums: ${JSON.stringify(sumSdk)}`);
    assert.deepEqual(sumSdk, sumExp, 'field sums differ between the SDK listing and the export');
    assert.ok(sumSdk.user_active_flag > 0 && BigInt(sumSdk.email_send_count) > 0n, 'the demo data is all zeros: nothing meaningful compared');

    // Row by row: a sample (every 97th, first, last, the busiest ones) spelled
    // out, then every row.
    const sample = new Set([0, itemsA.length - 1]);
    for (let i = 0; i < itemsA.length; i += 97) sample.add(i);
    [...itemsA.keys()].sort((x, y) => itemsA[y].send_messenger_num - itemsA[x].send_messenger_num).slice(0, 20).forEach((i) => sample.add(i));
    const expByKey = new Map(exp.rows.map((r) => [keyOf(r), r]));
    for (const i of sample) {
      const row = itemsA[i];
      assert.deepStrictEqual(row, expByKey.get(keyOf(row)), `SDK item #${i} ${row.date}/${row.user_id} differs from its export row`);
    }
    const expSorted = [...exp.rows].sort(cmpKey);
    const diffs = firstDiffs(itemsA, expSorted);
    assert.deepEqual(diffs, [], 'SDK items differ from the export rows');
    t.diagnostic(`${sample.size} sampled rows and all ${itemsA.length} rows equal field by field`);

    // Pass B saw the very same rows (same tenant, whole-tenant scope).
    assert.equal(itemsB.length, itemsA.length, `pass B (${passBHow}) got ${itemsB.length} items, pass A ${itemsA.length}`);
    assert.deepEqual(firstDiffs(itemsB, itemsA), [], `pass B (${passBHow}) differs from pass A`);
  });
});
