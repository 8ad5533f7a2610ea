"""The process: the `listening on` line, signals (SIGTERM/SIGINT graceful,
SIGHUP reload), directory validation at start and on reload (SIGHUP and
POST /admin-api/v1/directory/reload)."""
from __future__ import annotations

import copy
import json
import signal
import subprocess
import time

import pytest
import requests

from harness import (HTTP_TIMEOUT, Server, TenantBuilder, assert_json_response, assert_rows_equal,
                     binary_path, directory_json, ev, sdk_client, sdk_collect, wait_for)
from refmodel import Model

NOW = "2026-03-10T12:00:00+08:00"
S, E = "2026-03-08", "2026-03-09"
ADMIN = "operator-token-0123456789"
RELOAD = "/admin-api/v1/directory/reload"


def small_org():
    t = TenantBuilder("lifeco", "cn")
    t.dept("D1", "One")
    t.dept("D2", "Two", "D1")
    t.user("a", "Anna", "D1")
    t.user("b", "Bert", "D2")
    t.app("full")
    return t


# -- signals -------------------------------------------------------------------

def test_sigterm_right_after_listening_line_is_graceful(tmp_path):
    """cli.md: the line is printed once the server accepts connections, and
    SIGTERM stops it gracefully (exit 0). A signal sent as soon as the line is
    read must not kill the process with the default action."""
    srv = Server(tmp_path, directory_json(small_org()), NOW)
    codes = []
    for _ in range(10):
        srv.start()
        codes.append(srv.stop(signal.SIGTERM))
    srv.close()
    assert codes == [0] * 10, f"exit codes after an immediate SIGTERM: {codes} (-15 = killed by the signal)"


def test_sigint_is_graceful(tmp_path):
    t = small_org()
    srv = Server(tmp_path, directory_json(t), NOW).start()
    srv.ingest_ok(t, [ev("im.active", t.users["a"], "2026-03-08T10:00:00+08:00")])
    assert srv.stop(signal.SIGINT) == 0, srv.log_tail()
    srv.close()


def test_sighup_right_after_listening_line_does_not_kill(tmp_path):
    srv = Server(tmp_path, directory_json(small_org()), NOW)
    alive = []
    for _ in range(6):
        srv.start()
        srv.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        alive.append(srv.running())
        if srv.running():
            srv.terminate()
        else:
            srv.stop()
    srv.close()
    assert all(alive), f"alive 0.3 s after an immediate SIGHUP: {alive}"


# -- directory validation at start -------------------------------------------------

def invalid_directories():
    t = small_org()
    base = directory_json(t)
    cases = []

    def case(name, mutate, must_name):
        d = copy.deepcopy(base)
        mutate(d)
        cases.append(pytest.param(d, must_name, id=name))

    T = lambda d: d["tenants"][0]
    case("unknown-department", lambda d: T(d)["users"][1].update(department_id="D99"),
         ["tenants[0].users[1].department_id", "D99"])
    case("duplicate-open-id", lambda d: T(d)["users"][1].update(open_id=T(d)["users"][0]["open_id"]),
         ["tenants[0].users[1]"])
    case("cycle", lambda d: T(d)["departments"][0].update(parent_department_id="D2"),
         ["tenants[0].departments["])
    case("bad-geo", lambda d: T(d).update(geo="eu"), ["tenants[0].geo"])
    case("unknown-scope", lambda d: T(d)["apps"][0].update(scopes=["admin:everything"]),
         ["tenants[0].apps[0].scopes"])
    case("bad-app-type", lambda d: T(d)["apps"][0].update(app_type="isv"), ["tenants[0].apps[0].app_type"])
    case("bad-time", lambda d: T(d)["users"][0].update(create_time="2025-01-01 10:00:00"),
         ["tenants[0].users[0].create_time"])
    case("missing-name", lambda d: T(d)["users"][0].pop("name"), ["tenants[0].users[0]"])
    case("wrong-type", lambda d: T(d)["users"][0].update(name=42), ["tenants[0].users[0].name"])
    case("short-ingest-token", lambda d: T(d).update(ingest_token="short"), ["tenants[0].ingest_token"])
    case("duplicate-tenant-key", lambda d: d["tenants"].append(
        dict(copy.deepcopy(T(d)), ingest_token="another-ingest-token-xyz", apps=[], users=[])),
        ["tenants[1]"])
    case("shared-app-id", lambda d: d["tenants"].append(
        dict(copy.deepcopy(T(d)), tenant_key="other", ingest_token="another-ingest-token-xyz", users=[])),
        ["tenants[1].apps[0]"])
    case("malformed-json", lambda d: None, [])
    return cases


@pytest.mark.parametrize("directory,must_name", invalid_directories())
def test_invalid_directory_refused_at_start(tmp_path, directory, must_name, request):
    path = tmp_path / "directory.json"
    text = json.dumps(directory)
    if request.node.callspec.id == "malformed-json":
        text = text[:-3]
    path.write_text(text)
    p = subprocess.run([str(binary_path()), "serve", "--directory", str(path), "--data", str(tmp_path / "data"),
                        "--listen", "127.0.0.1:0", "--now", NOW], capture_output=True, timeout=30)
    assert p.returncode != 0, p
    assert not p.stdout.startswith(b"listening on"), p.stdout
    err = p.stderr.decode("utf-8", "replace")
    for s in must_name:
        assert s in err, f"stderr should name {s!r}: {err}"


# -- reload ---------------------------------------------------------------------------

@pytest.fixture
def reloadable(tmp_path):
    t = small_org()
    directory = directory_json(t)
    srv = Server(tmp_path, directory, NOW, admin_token=ADMIN).start()
    yield srv, t
    srv.close()


def post_reload(srv, token=ADMIN):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(srv.url(RELOAD), headers=h, timeout=HTTP_TIMEOUT)


def names(srv, app):
    return sorted({(r["user_name"], r["department_path"]) for r in
                   sdk_collect(sdk_client(srv, app), start_date=S, end_date=E)})


def test_reload_via_admin_api(reloadable):
    srv, t = reloadable
    app = t.apps["full"]
    assert names(srv, app) == [("Anna", "One"), ("Bert", "One/Two")]
    c_user = t.user("c", "Cleo", "D2")
    ev_c = ev("docs.created", c_user, "2026-03-08T10:00:00+08:00", count=2)
    r = srv.ingest(t, [ev_c])
    assert r.json()["data"]["accepted"] == 0          # unknown user before the reload
    t.users["b"]["name"] = "Bertram"
    t.users["a"]["department_id"] = "D2"              # moved: current department is shown
    srv.directory_path.write_text(json.dumps(directory_json(t)))
    r = post_reload(srv)
    assert r.status_code == 200, r.text
    body = assert_json_response(r)
    assert body["code"] == 0, body
    assert names(srv, app) == [("Anna", "One/Two"), ("Bertram", "One/Two"), ("Cleo", "One/Two")]
    assert srv.ingest(t, [ev_c]).json()["data"]["accepted"] == 1
    model = Model(directory_json(t))
    model["lifeco"].add([ev_c])
    assert_rows_equal(sdk_collect(sdk_client(srv, app), start_date=S, end_date=E),
                      model["lifeco"].rows(app, S, E, NOW))


def test_invalid_reload_keeps_directory(reloadable):
    srv, t = reloadable
    app = t.apps["full"]
    before = names(srv, app)
    bad = directory_json(t)
    bad["tenants"][0]["users"][1]["department_id"] = "D99"
    bad["tenants"][0]["users"][0]["name"] = "Changed"
    srv.directory_path.write_text(json.dumps(bad))
    r = post_reload(srv)
    assert r.status_code != 200, r.text
    body = assert_json_response(r)
    assert body["code"] != 0 and "tenants[0].users[1].department_id" in body["msg"], body
    assert names(srv, app) == before
    # SIGHUP with the same bad file: still alive, still the old directory
    srv.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    assert srv.running()
    assert names(srv, app) == before


def test_reload_via_sighup(reloadable):
    srv, t = reloadable
    app = t.apps["full"]
    # (a request first: a SIGHUP right after start is test_sighup_right_after_listening_line_...)
    assert ("Dora", "One") not in names(srv, app)
    t.user("d", "Dora", "D1")
    srv.directory_path.write_text(json.dumps(directory_json(t)))
    srv.send_signal(signal.SIGHUP)
    assert wait_for(lambda: ("Dora", "One") in names(srv, app), timeout=5), names(srv, app)
    assert srv.running()


def test_reload_needs_the_operator_token(reloadable):
    srv, t = reloadable
    t.user("e", "Emil", "D1")
    srv.directory_path.write_text(json.dumps(directory_json(t)))
    for tok in (None, "wrong-operator-token"):
        r = post_reload(srv, tok)
        assert r.status_code in (401, 403), r.text
        assert_json_response(r)
    assert ("Emil", "One") not in names(srv, t.apps["full"])


def test_admin_api_is_404_without_admin_token(tmp_path):
    srv = Server(tmp_path, directory_json(small_org()), NOW).start()
    try:
        for tok in (None, ADMIN):
            r = post_reload(srv, tok)
            assert r.status_code == 404, r.text
            assert assert_json_response(r)["code"] == 404
    finally:
        srv.close()
