'use strict';
// Helpers for the Node SDK suite: start/stop the real `adminstats demo`
// binary, load the official SDK, pace requests under the per-app rate limit,
// fetch the server's own NDJSON export. Node built-ins only.

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ADMINSTATS_SDK_STORE=postgres: the demo and a second `serve` run over one PostgreSQL database of
// their own (on ADMINSTATS_TEST_PG), behind a proxy that sends each request to the other one than
// the last (../alternate.py): every page comes from the other instance.
const PAIR = process.env.ADMINSTATS_SDK_STORE === 'postgres';
const PG_ADMIN = process.env.ADMINSTATS_TEST_PG || 'postgres://postgres@127.0.0.1:5432/postgres';

function psql(sql) {
  execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', PG_ADMIN, '-c', sql], { stdio: ['ignore', 'ignore', 'inherit'] });
}

// Spawns `cmd args` and resolves to [child, url] at its `listening on URL` line.
function spawnListening(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  child.stderr.resume();
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) resolve([child, m[1]]);
      else reject(new Error(`${cmd}: first line ${JSON.stringify(line)}`));
      lines.on('line', () => {});
    });
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`${cmd} exited with ${code} before listening`)));
  });
}

// The SDK comes from NODE_PATH (scripts/node-env.sh prints it); fall back to
// the folder that script installs into, so a bare `node --test` works too.
function loadLark() {
  try {
    return require('@larksuiteoapi/node-sdk');
  } catch (first) {
    const local = path.join(REPO_ROOT, 'target', 'sdk', 'node', 'node_modules', '@larksuiteoapi', 'node-sdk');
    try {
      return require(local);
    } catch {
      throw new Error(
        'cannot load @larksuiteoapi/node-sdk; install it first:\n' +
          '  NODE_PATH=$(bash scripts/node-env.sh) node --test tests/sdk/node/\n' +
          `(${first.message.split('\n')[0]})`,
      );
    }
  }
}

function sdkVersion() {
  for (const dir of [
    ...(process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean),
    path.join(REPO_ROOT, 'target', 'sdk', 'node', 'node_modules'),
  ]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, '@larksuiteoapi', 'node-sdk', 'package.json'), 'utf8'));
      return pkg.version;
    } catch {
      // try the next one
    }
  }
  return 'unknown';
}

// A logger for the SDK that keeps what it says instead of printing it.
function quietLogger(sink) {
  const keep = (level) => (...args) => sink.push([level, ...args]);
  return { error: keep('error'), warn: keep('warn'), info: keep('info'), debug: keep('debug'), trace: keep('trace') };
}

/**
 * Starts `adminstats demo` and resolves once it printed `Stop with Ctrl-C.`.
 * Resolves to { base, tenants: Map<name, [{appId, appSecret, description}]>,
 * stdout: [...lines], stderrTail(), stop() }.
 */
async function startDemo({ args, startupMs = 120_000 }) {
  const bin = process.env.ADMINSTATS_BIN
    ? path.resolve(process.env.ADMINSTATS_BIN)
    : path.join(REPO_ROOT, 'target', 'debug', 'adminstats');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'adminstats-node-sdk-'));
  const fullArgs = ['demo', ...args, '--data', dataDir];
  let pgDb = null;
  const env = { ...process.env };
  if (PAIR) {
    pgDb = `adminstats_node_${Date.now().toString(16)}_${Math.floor(Math.random() * 1e9).toString(16)}`;
    psql(`CREATE DATABASE ${pgDb}`);
    env.ADMINSTATS_STORE = `${PG_ADMIN.replace(/\/[^/]*$/, '')}/${pgDb}`;
  }

  const child = spawn(bin, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const stdout = [];
  const stderr = [];
  const TAIL = 60;
  // Keep draining both pipes for the server's whole life: it logs every
  // request on stderr, and a full pipe would stall it.
  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > TAIL) stderr.shift();
  });
  const stdoutLines = readline.createInterface({ input: child.stdout });

  let exited = null;
  let spawnError = null;
  // 'close' (not 'exit'): it comes once the pipes are drained too, so the
  // stderr tail is complete when startup fails.
  const exitPromise = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  const stderrTail = () => stderr.join('\n');
  const describeFailure = (why) =>
    `${why}\n  command: ${bin} ${fullArgs.join(' ')}\n` +
    `--- server stdout ---\n${stdout.join('\n')}\n--- server stderr (last ${TAIL} lines) ---\n${stderrTail()}`;

  async function stop(graceMs = 15_000) {
    if (exited || spawnError) return { ...(exited || { code: null, signal: null }), graceful: true };
    child.kill('SIGTERM');
    let timer;
    const result = await Promise.race([
      exitPromise,
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), graceMs);
      }),
    ]);
    clearTimeout(timer); // a pending timer would keep the test process alive
    if (!result) {
      child.kill('SIGKILL');
      await exitPromise;
      return { code: null, signal: 'SIGKILL', graceful: false };
    }
    return { ...result, graceful: true };
  }
  function cleanup() {
    if (!process.env.KEEP_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
    if (pgDb) {
      try {
        psql(`DROP DATABASE IF EXISTS ${pgDb} WITH (FORCE)`);
      } catch {
        // a database left behind costs nothing but its name
      }
      pgDb = null;
    }
  }

  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(describeFailure(`adminstats demo did not print "Stop with Ctrl-C." within ${startupMs / 1000} s`))),
        startupMs,
      );
      child.on('error', (e) => {
        spawnError = e;
        clearTimeout(timer);
        reject(new Error(describeFailure(`cannot run ${bin}: ${e.message} (build it with \`cargo build\`, or set ADMINSTATS_BIN)`)));
      });
      exitPromise.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(describeFailure(`adminstats demo exited during startup (code ${code}, signal ${signal})`)));
      });
      stdoutLines.on('line', (line) => {
        stdout.push(line);
        if (line.trim() === 'Stop with Ctrl-C.') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (e) {
    await stop(5_000);
    cleanup();
    throw e;
  }

  const m = /^listening on (http:\/\/\S+)$/.exec(stdout[0] || '');
  if (!m) {
    await stop(5_000);
    cleanup();
    throw new Error(describeFailure('first stdout line is not `listening on http://HOST:PORT`'));
  }
  const tenants = new Map();
  let current = null;
  for (const line of stdout) {
    const t = /^tenant (\S+) /.exec(line);
    if (t) {
      current = [];
      tenants.set(t[1], current);
      continue;
    }
    const a = /^\s+app_id (\S+)\s+app_secret (\S+)\s+\u2014\s+(.*)$/.exec(line);
    if (a && current) current.push({ appId: a[1], appSecret: a[2], description: a[3] });
  }

  // PAIR mode: a second instance over the same database, and the proxy in front of both.
  let base = m[1];
  const extra = [];
  if (PAIR) {
    const nowAt = args.indexOf('--now');
    const serveArgs = ['serve', '--directory', path.join(dataDir, 'directory.json'), '--store', env.ADMINSTATS_STORE,
      '--listen', '127.0.0.1:0', ...(nowAt >= 0 ? ['--now', args[nowAt + 1]] : [])];
    const [second, base2] = await spawnListening(bin, serveArgs);
    extra.push(second);
    const python = process.env.ADMINSTATS_PY || 'python3';
    const [proxy, proxied] = await spawnListening(python, [path.join(__dirname, '..', 'alternate.py'), base, base2]);
    extra.push(proxy);
    base = proxied;
  }
  const stopExtra = async () => {
    for (const c of extra) {
      if (c.exitCode === null && c.signalCode === null) {
        const done = new Promise((resolve) => c.on('close', resolve));
        c.kill('SIGTERM');
        await done;
      }
    }
  };

  return {
    base,
    tenants,
    stdout,
    stderrTail,
    describeFailure,
    exited: () => exited,
    async stop() {
      await stopExtra();
      const r = await stop();
      cleanup();
      return r;
    },
  };
}

// Spaces out request starts so that at most `perSecond` begin in any second.
class Pacer {
  constructor(perSecond) {
    this.interval = 1000 / perSecond;
    this.next = 0;
  }
  async wait() {
    const now = Date.now();
    const at = Math.max(now, this.next);
    this.next = at + this.interval;
    if (at > now) await sleep(at - now);
  }
  // After a 429: nobody starts before `ms` from now.
  holdFor(ms) {
    this.next = Math.max(this.next, Date.now() + ms);
  }
}

// Turns what the SDK throws (an AxiosError for any non-2xx) into a short,
// readable Error that keeps status, headers and body.
function httpError(e, what) {
  const r = e && e.response;
  if (!r) return e instanceof Error ? e : new Error(String(e));
  const err = new Error(
    `${what}: HTTP ${r.status} ${JSON.stringify(r.data)} (x-tt-logid ${r.headers && r.headers['x-tt-logid']})`,
  );
  err.status = r.status;
  err.body = r.data;
  err.headers = r.headers;
  return err;
}

/**
 * Runs `fn` (one SDK call) under the pacer; on a 429 (the SDK rejects with an
 * AxiosError whose response carries code 99991400 and x-ogw-ratelimit-reset)
 * waits the reset and tries again, at most `maxRetries` times in all.
 */
async function paced(fn, pacer, stats, what, maxRetries = 200) {
  for (;;) {
    await pacer.wait();
    try {
      stats.requests += 1;
      return await fn();
    } catch (e) {
      const r = e && e.response;
      if (r && r.status === 429 && stats.retries429 < maxRetries) {
        stats.retries429 += 1;
        if (!r.data || r.data.code !== 99991400) {
          throw httpError(e, `${what}: 429 without code 99991400`);
        }
        const reset = Number(r.headers['x-ogw-ratelimit-reset']);
        if (!Number.isInteger(reset) || reset < 1) {
          throw httpError(e, `${what}: 429 with a bad x-ogw-ratelimit-reset ${JSON.stringify(r.headers['x-ogw-ratelimit-reset'])}`);
        }
        pacer.holdFor(reset * 1000 + 50);
        continue;
      }
      throw httpError(e, what);
    }
  }
}

async function tenantToken(base, appId, appSecret) {
  const res = await fetch(`${base}/open-apis/auth/v3/tenant_access_token/internal`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ app_id: appId, app_secret: appSecret }),
  });
  const body = await res.json();
  if (res.status !== 200 || body.code !== 0 || typeof body.tenant_access_token !== 'string') {
    throw new Error(`tenant_access_token/internal: HTTP ${res.status} ${JSON.stringify(body)}`);
  }
  return body.tenant_access_token;
}

/**
 * Streams GET /open-apis/admin/v1/admin_user_stats/export and returns
 * { rows: [...items], trailer, contentType, status }. Fails on a line that is
 * not JSON, on anything after the trailer, and on a missing trailer.
 */
async function fetchExport(base, token, query) {
  const url = `${base}/open-apis/admin/v1/admin_user_stats/export?${new URLSearchParams(query)}`;
  const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  const contentType = res.headers.get('content-type');
  if (res.status !== 200) {
    throw new Error(`export: HTTP ${res.status} ${contentType} ${await res.text()}`);
  }
  const rows = [];
  let trailer = null;
  let lineNo = 0;
  let pending = '';
  const take = (line) => {
    lineNo += 1;
    if (line === '') return;
    if (trailer) throw new Error(`export: line ${lineNo} comes after the trailer: ${line.slice(0, 200)}`);
    let obj;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new Error(`export: line ${lineNo} is not JSON (${e.message}): ${line.slice(0, 200)}`);
    }
    if (obj && obj.done !== undefined) trailer = obj;
    else rows.push(obj);
  };
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for await (const chunk of res.body) {
    pending += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      take(pending.slice(0, nl).replace(/\r$/, ''));
      pending = pending.slice(nl + 1);
    }
  }
  pending += decoder.decode();
  if (pending !== '') take(pending);
  if (!trailer) throw new Error(`export: the stream ended after ${rows.length} rows without a {"done":true,...} trailer`);
  return { rows, trailer, contentType, status: res.status };
}

module.exports = {
  REPO_ROOT,
  sleep,
  loadLark,
  sdkVersion,
  quietLogger,
  startDemo,
  Pacer,
  paced,
  httpError,
  tenantToken,
  fetchExport,
};
