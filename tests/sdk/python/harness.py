"""Test harness for the real-client suite: starts `adminstats serve` as a
subprocess, builds directory files, talks to the server with the official
Lark SDK (lark-oapi) and with plain `requests` for the wire-level checks.

Everything here follows /work/shared/spec (api.md, events.md, directory.md,
cli.md); nothing depends on the server's internals.
"""
from __future__ import annotations

import copy
import gzip as gzip_mod
import hashlib
import itertools
import json
import os
import queue
import re
import secrets
import signal
import subprocess
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import requests

import lark_oapi as lark
from lark_oapi.api.admin.v1 import ListAdminUserStatRequest
from lark_oapi.core.cache import LocalCache

REPO = Path(__file__).resolve().parents[3]

LOGID_RE = re.compile(r"^\d{14}[0-9A-F]{20}$")
JSON_CT = "application/json; charset=utf-8"
SCOPE_USER_STAT = "admin:admin_user_stat:readonly"
SCOPE_EMPLOYEE_ID = "contact:user.employee_id:readonly"
FULL_SCOPES = [SCOPE_USER_STAT, SCOPE_EMPLOYEE_ID]

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
USER_STATS_PATH = "/open-apis/admin/v1/admin_user_stats"
INGEST_PATH = "/ingest/v1/events"

HTTP_TIMEOUT = 30

# ADMINSTATS_SDK_STORE=postgres: every Server is two `serve --store` processes over one PostgreSQL
# database of its own (on ADMINSTATS_TEST_PG), behind a proxy that sends each request to the other
# one than the last (../alternate.py): every page of a listing comes from the other instance.
PAIR = os.environ.get("ADMINSTATS_SDK_STORE") == "postgres"
PG_ADMIN = os.environ.get("ADMINSTATS_TEST_PG", "postgres://postgres@127.0.0.1:5432/postgres")

import sys as _sys  # noqa: E402
_sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from alternate import Alternate  # noqa: E402


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", PG_ADMIN, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)

# Every field of an admin_user_stats item, with its exact JSON type (api.md).
STR_FIELDS = [
    "date", "user_id", "user_name", "department_name", "department_path",
    "create_time", "register_time", "last_active_time",
    "active_os", "app_package_type", "os_name",
]
FLAG_FIELDS = [
    "user_active_flag", "suite_active_flag", "im_active_flag", "docs_active_flag",
    "cal_active_flag", "vc_active_flag", "search_active_flag",
]
NUM_FIELDS = [
    "send_messenger_num", "create_docs_num", "create_cal_num", "create_task_num",
    "vc_num", "vc_duration",
]
INT64_STR_FIELDS = [
    "email_send_count", "email_receive_count", "email_send_ext_count",
    "email_receive_ext_count", "email_send_in_count", "email_receive_in_count",
    "total_search_count", "quick_search_count", "tab_search_count",
]
ALL_FIELDS = STR_FIELDS + FLAG_FIELDS + NUM_FIELDS + INT64_STR_FIELDS


# --------------------------------------------------------------------------
# ids and directory building
# --------------------------------------------------------------------------

def hexid(*parts: str, n: int = 32) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:n]


class TenantBuilder:
    """A tenant of the directory file, with handles by short name."""

    def __init__(self, key: str, geo: str, cross_geo: list[str] | None = None):
        self.key = key
        self.geo = geo
        self.ingest_token = f"ingest-{key}-{secrets.token_hex(12)}"
        self.depts: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.apps: dict[str, dict] = {}
        self.cross_geo = cross_geo

    def dept(self, did: str, name: str, parent: str = "0") -> dict:
        d = {
            "department_id": did,
            "open_department_id": "od-" + hexid(self.key, "dept", did),
            "name": name,
            "parent_department_id": parent,
        }
        self.depts[did] = d
        return d

    def user(self, short: str, name: str | None = None, dept: str = "0", *,
             create: str = "2025-06-01T09:00:00+08:00",
             register: str | None = "2025-06-01T09:30:00+08:00",
             leave: str | None = None, user_id: str | None = None) -> dict:
        u = {
            "open_id": "ou_" + hexid(self.key, "open", short),
            "union_id": "on_" + hexid(self.key, "union", short),
            "user_id": user_id or f"e-{self.key}-{short}",
            "name": name or short.capitalize(),
            "department_id": dept,
            "create_time": create,
            "register_time": register,
            "leave_time": leave,
        }
        self.users[short] = u
        return u

    def app(self, short: str, *, app_type: str = "custom", scopes: list[str] | None = None,
            data_scope: list[str] | None = None) -> dict:
        a = {
            # random per run: the SDK's token cache is process-global, keyed by app_id
            "app_id": f"cli_{secrets.token_hex(8)}",
            "app_secret": secrets.token_urlsafe(24),
            "app_type": app_type,
            "scopes": list(FULL_SCOPES if scopes is None else scopes),
            "data_scope": list(["0"] if data_scope is None else data_scope),
        }
        self.apps[short] = a
        return a

    def to_json(self) -> dict:
        t = {
            "tenant_key": self.key,
            "name": f"{self.key} Ltd",
            "geo": self.geo,
            "ingest_token": self.ingest_token,
            "departments": list(self.depts.values()),
            "users": list(self.users.values()),
            "apps": list(self.apps.values()),
        }
        if self.cross_geo is not None:
            t["cross_geo"] = self.cross_geo
        return t


def directory_json(*tenants: TenantBuilder) -> dict:
    """A snapshot (deep copy) of the tenants as a directory document."""
    return copy.deepcopy({"tenants": [t.to_json() for t in tenants]})


# --------------------------------------------------------------------------
# the server process
# --------------------------------------------------------------------------

def binary_path() -> Path:
    p = os.environ.get("ADMINSTATS_BIN") or str(REPO / "target" / "debug" / "adminstats")
    path = Path(p)
    if not path.is_absolute():
        path = (Path.cwd() / path) if (Path.cwd() / path).exists() else (REPO / path)
    return path


# servers whose logs are attached to a failing test's report (see conftest.py)
LIVE_SERVERS: list["Server"] = []


class Server:
    """One `adminstats serve` on a data directory; can be restarted on it."""

    def __init__(self, workdir: Path, directory: dict, now: str, *,
                 rate_limit: int | None = 1000, admin_token: str | None = None,
                 extra_args: Iterable[str] = ()):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.directory_path = self.workdir / "directory.json"
        self.directory_path.write_text(json.dumps(directory, indent=1))
        self.data_dir = self.workdir / "data"
        self.now = now
        self.rate_limit = rate_limit
        self.admin_token = admin_token
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen | None = None
        self.base: str | None = None
        self.generation = 0
        self.log_path: Path | None = None
        self.log_paths: list[Path] = []
        self.stdout_rest: list[bytes] = []
        self._log_file = None
        # PAIR mode: the second instance, the proxy in front of both, their database.
        self.proc2: subprocess.Popen | None = None
        self._log_file2 = None
        self.proxy: Alternate | None = None
        self.pg_db: str | None = None

    # -- lifecycle ---------------------------------------------------------
    def store_args(self) -> list[str]:
        if not PAIR:
            return ["--data", str(self.data_dir)]
        if self.pg_db is None:
            self.pg_db = f"adminstats_sdk_{secrets.token_hex(8)}"
            _psql(f"CREATE DATABASE {self.pg_db}")
        return ["--store", PG_ADMIN.rsplit("/", 1)[0] + "/" + self.pg_db]

    def args(self) -> list[str]:
        a = [str(binary_path()), "serve",
             "--directory", str(self.directory_path),
             *self.store_args(),
             "--listen", "127.0.0.1:0",
             "--now", self.now]
        if self.admin_token:
            a += ["--admin-token", self.admin_token]
        if self.rate_limit is not None:
            a += ["--user-stats-rate-limit", str(self.rate_limit)]
        return a + self.extra_args

    def start(self, now: str | None = None, timeout: float = 30.0) -> "Server":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if now is not None:
            self.now = now
        binp = binary_path()
        if not binp.exists():
            raise RuntimeError(f"adminstats binary not found at {binp} "
                               "(build it with `cargo build -p adminstats` or set ADMINSTATS_BIN)")
        self.generation += 1
        self.log_path = self.workdir / f"server-{self.generation}.stderr.log"
        self.log_paths.append(self.log_path)
        self._log_file = open(self.log_path, "wb")
        self.stdout_rest = []
        self.proc, base = self._spawn(self._log_file, timeout)
        if self not in LIVE_SERVERS:
            LIVE_SERVERS.append(self)
        if not PAIR:
            self.base = base
            return self
        second = self.workdir / f"server-{self.generation}b.stderr.log"
        self.log_paths.append(second)
        self._log_file2 = open(second, "wb")
        self.proc2, base2 = self._spawn(self._log_file2, timeout)
        self.proxy = Alternate([base, base2])
        self.base = self.proxy.base
        return self

    def _spawn(self, log_file, timeout: float) -> tuple[subprocess.Popen, str]:
        """One `serve` process; returns it and its base URL once it says `listening on`."""
        env = dict(os.environ)
        env.pop("ADMINSTATS_ADMIN_TOKEN", None)
        env.pop("ADMINSTATS_STORE", None)
        proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=log_file, env=env)
        first: queue.Queue = queue.Queue()

        def reader():
            line = proc.stdout.readline()
            first.put(line)
            for rest in proc.stdout:  # keep draining so the pipe never fills
                self.stdout_rest.append(rest)

        threading.Thread(target=reader, daemon=True).start()
        try:
            line = first.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"no `listening on` line within {timeout}s\n{self.log_tail()}")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        m = re.fullmatch(r"listening on (http://([^\s:/]+|\[[^\]]+\]):(\d+))", text)
        if not m:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise RuntimeError(f"first stdout line was {text!r}, expected `listening on http://HOST:PORT` "
                               f"(exit code {proc.returncode})\n{self.log_tail()}")
        return proc, m.group(1)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        """Sends `sig` to the server (to both instances in PAIR mode)."""
        for p in (self.proc, self.proc2):
            if p is not None and p.poll() is None:
                p.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send `sig` and wait for the exit; returns the exit code (the first instance's)."""
        assert self.proc is not None
        if self.proxy is not None:
            self.proxy.close()
            self.proxy = None
        codes = []
        for p in (self.proc, self.proc2):
            if p is None:
                continue
            if p.poll() is None:
                p.send_signal(sig)
                try:
                    p.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    raise AssertionError(f"adminstats did not exit within {timeout}s of signal {sig}\n"
                                         f"{self.log_tail()}")
            codes.append(p.returncode)
        for f in ("_log_file", "_log_file2"):
            if getattr(self, f):
                getattr(self, f).close()
                setattr(self, f, None)
        if PAIR and len(set(codes)) > 1:
            raise AssertionError(f"the two instances exited differently: {codes}\n{self.log_tail()}")
        return self.proc.returncode

    def terminate(self) -> None:
        """SIGTERM and assert a clean exit (code 0)."""
        rc = self.stop(signal.SIGTERM)
        assert rc == 0, f"adminstats exited {rc} after SIGTERM\n{self.log_tail()}"

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self, *, now: str | None = None, hard: bool = False) -> "Server":
        if self.running():
            if hard:
                self.kill9()
            else:
                self.terminate()
        return self.start(now=now)

    def close(self) -> None:
        if self.running():
            self.terminate()
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)
        if self.pg_db is not None:
            _psql(f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)")
            self.pg_db = None

    # -- logs --------------------------------------------------------------
    def log_text(self) -> str:
        """The current run's log (both instances' in PAIR mode)."""
        if self.log_path is None:
            return ""
        paths = [self.log_path]
        if PAIR:
            paths.append(self.log_path.with_name(self.log_path.name.replace(".stderr", "b.stderr")))
        return "".join(p.read_text("utf-8", "replace") for p in paths if p.exists())

    def all_logs_text(self) -> str:
        return "".join(p.read_text("utf-8", "replace") for p in self.log_paths if p.exists())

    def log_tail(self, lines: int = 80) -> str:
        out = []
        for p in self.log_paths[-2:]:
            if p.exists():
                tail = p.read_text("utf-8", "replace").splitlines()[-lines:]
                out.append(f"--- {p} (last {len(tail)} lines) ---\n" + "\n".join(tail))
        return "\n".join(out)

    # -- raw HTTP ----------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base + path

    def token(self, app: dict) -> str:
        r = requests.post(self.url(TOKEN_PATH),
                          data=json.dumps({"app_id": app["app_id"], "app_secret": app["app_secret"]}),
                          timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert body["code"] == 0, body
        return body["tenant_access_token"]

    def get_stats(self, token: str | None, params: dict | list | None = None,
                  headers: dict | None = None, **kw) -> requests.Response:
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        return requests.get(self.url(USER_STATS_PATH), params=params, headers=h,
                            timeout=HTTP_TIMEOUT, **kw)

    def ingest_raw(self, body: bytes, *, token: str | None, gzip: bool = False,
                   headers: dict | None = None) -> requests.Response:
        h = {"Content-Type": "application/x-ndjson"}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if gzip:
            h["Content-Encoding"] = "gzip"
        h.update(headers or {})
        return requests.post(self.url(INGEST_PATH), data=body, headers=h, timeout=120)

    def ingest(self, tenant: TenantBuilder, events: Iterable[Any], *, gzip: bool = False,
               token: str | None = "tenant") -> requests.Response:
        body = ndjson(events)
        if gzip:
            body = gzip_mod.compress(body)
        tok = tenant.ingest_token if token == "tenant" else token
        return self.ingest_raw(body, token=tok, gzip=gzip)

    def ingest_ok(self, tenant: TenantBuilder, events: list, *, gzip: bool = False) -> dict:
        """Ingests events that must all be accepted; returns `data`."""
        r = self.ingest(tenant, events, gzip=gzip)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert body.get("code") == 0, body
        data = body["data"]
        assert data["rejected"] == [], data
        return data


def ndjson(events: Iterable[Any]) -> bytes:
    lines = []
    for e in events:
        if isinstance(e, bytes):
            lines.append(e)
        elif isinstance(e, str):
            lines.append(e.encode())
        else:
            lines.append(json.dumps(e, ensure_ascii=False).encode())
    return b"\n".join(lines) + b"\n"


# --------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------

_seq = itertools.count(1)


def new_event_id() -> str:
    return f"ev-{next(_seq):06d}-{uuid.uuid4().hex[:12]}"


def ev(etype: str, user: dict, ts: Any, *, by: str = "open_id", event_id: str | None = None,
       **attrs) -> dict:
    e = {"event_id": event_id or new_event_id(), "type": etype, by: user[by], "ts": ts}
    e.update(attrs)
    return e


def epoch_ms(rfc3339: str) -> int:
    dt = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return delta // timedelta(milliseconds=1)


# --------------------------------------------------------------------------
# SDK
# --------------------------------------------------------------------------

def sdk_client(server: Server, app: dict) -> lark.Client:
    return (lark.Client.builder()
            .app_id(app["app_id"])
            .app_secret(app["app_secret"])
            .domain(server.base)
            .timeout(HTTP_TIMEOUT)
            .cache(LocalCache())
            .log_level(lark.LogLevel.ERROR)
            .build())


def sdk_list(client: lark.Client, option=None, **params):
    b = ListAdminUserStatRequest.builder()
    for k, v in params.items():
        if v is not None:
            getattr(b, k)(v)
    return client.admin.v1.admin_user_stat.list(b.build(), option)


def check_log_id(resp) -> str:
    log_id = resp.get_log_id()
    assert log_id is not None, f"no X-Tt-Logid header (exact case) in {list(resp.raw.headers)}"
    assert LOGID_RE.match(log_id), f"bad X-Tt-Logid {log_id!r}"
    datetime.strptime(log_id[:14], "%Y%m%d%H%M%S")
    return log_id


def describe(resp) -> str:
    raw = resp.raw
    return (f"HTTP {raw.status_code if raw else '?'} code={resp.code} msg={resp.msg!r} "
            f"log_id={resp.get_log_id()} body={(raw.content[:500] if raw else b'')!r}")


def assert_sdk_ok(resp) -> None:
    assert resp.success(), describe(resp)
    assert resp.code == 0 and resp.msg == "success", describe(resp)
    assert resp.raw.status_code == 200, describe(resp)
    assert resp.raw.headers.get("Content-Type", resp.raw.headers.get("content-type")) == JSON_CT
    check_log_id(resp)


def assert_sdk_error(resp, status: int, code: int, msg_contains: Iterable[str] = ()) -> None:
    assert not resp.success(), describe(resp)
    assert resp.raw.status_code == status, describe(resp)
    assert resp.code == code, describe(resp)
    assert isinstance(resp.msg, str) and resp.msg, describe(resp)
    for s in msg_contains:
        assert s in resp.msg, f"msg should name {s!r}: {describe(resp)}"
    log_id = check_log_id(resp)
    body = json.loads(resp.raw.content)
    assert body["error"]["log_id"] == log_id, body


def item_dict(item) -> dict:
    return {f: getattr(item, f) for f in ALL_FIELDS}


def sdk_collect(client: lark.Client, page_size: int = 60, **params) -> list[dict]:
    """Every item of a query, paging with the SDK."""
    rows: list[dict] = []
    token = None
    for _ in range(10000):
        resp = sdk_list(client, page_size=page_size, page_token=token, **params)
        assert_sdk_ok(resp)
        rows.extend(item_dict(i) for i in (resp.data.items or []))
        if not resp.data.has_more:
            assert not resp.data.page_token, "page_token must be absent when has_more is false"
            return rows
        assert resp.data.page_token, "has_more without page_token"
        token = resp.data.page_token
    raise AssertionError("paging did not terminate")


def raw_collect(server: Server, token: str, params: dict, page_size: int = 60) -> list[dict]:
    rows: list[dict] = []
    page_token = None
    for _ in range(10000):
        p = dict(params, page_size=page_size)
        if page_token:
            p["page_token"] = page_token
        r = server.get_stats(token, p)
        assert r.status_code == 200, (r.status_code, r.text)
        data = r.json()["data"]
        rows.extend(data["items"])
        if not data["has_more"]:
            assert "page_token" not in data, data
            return rows
        page_token = data["page_token"]
    raise AssertionError("paging did not terminate")


def assert_rows_equal(actual: list[dict], expected: list[dict]) -> None:
    """Every field of every row, with readable differences."""
    akeys = [(r.get("date"), r.get("user_id")) for r in actual]
    ekeys = [(r["date"], r["user_id"]) for r in expected]
    if akeys != ekeys:
        missing = [k for k in ekeys if k not in akeys]
        extra = [k for k in akeys if k not in ekeys]
        raise AssertionError(
            f"row keys differ: {len(akeys)} rows served, {len(ekeys)} expected; "
            f"missing {missing[:10]} extra {extra[:10]}; "
            f"order ok={sorted(akeys) == sorted(ekeys)}\nserved {akeys[:30]}\nexpected {ekeys[:30]}")
    diffs = []
    for a, e in zip(actual, expected):
        for f in ALL_FIELDS:
            av, evv = a.get(f, "<missing>"), e[f]
            if av != evv or type(av) is not type(evv):
                diffs.append(f"{e['date']} {e['user_name']} {f}: served {av!r} expected {evv!r}")
    if diffs:
        raise AssertionError(f"{len(diffs)} field(s) differ:\n" + "\n".join(diffs[:60]))


def check_item_types(item: dict) -> None:
    for f in ALL_FIELDS:
        assert f in item, f"item lacks {f}: {item}"
    for f in STR_FIELDS:
        assert type(item[f]) is str, (f, item[f])
    for f in FLAG_FIELDS:
        assert type(item[f]) is int and item[f] in (0, 1), (f, item[f])
    for f in NUM_FIELDS:
        assert type(item[f]) is int and item[f] >= 0, (f, item[f])
    for f in INT64_STR_FIELDS:
        assert type(item[f]) is str and re.fullmatch(r"0|[1-9][0-9]*", item[f]), (f, item[f])


def assert_json_response(r: requests.Response) -> dict:
    assert r.headers.get("Content-Type") == JSON_CT, r.headers
    log_id = r.headers.get("X-Tt-Logid")
    assert log_id and LOGID_RE.match(log_id), r.headers
    return r.json()


def assert_raw_error(r: requests.Response, status: int, code: int, msg_prefix: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    body = assert_json_response(r)
    assert body.get("code") == code, body
    assert isinstance(body.get("msg"), str) and body["msg"], body
    if msg_prefix is not None:
        assert body["msg"].startswith(msg_prefix), body
    assert isinstance(body.get("error"), dict), body
    assert body["error"].get("log_id") == r.headers["X-Tt-Logid"], body
    return body


def wait_for(pred, timeout: float = 3.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def daterange(start: str, end: str) -> list[str]:
    s, e = date.fromisoformat(start), date.fromisoformat(end)
    return [(s + timedelta(days=i)).isoformat() for i in range((e - s).days + 1)]
