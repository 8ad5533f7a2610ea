"""Query parameters of admin_user_stats: validation (1051001), data scope
(1051002), id type conversions, filters, page size, target_geo."""
from __future__ import annotations

import pytest

from harness import (Server, assert_raw_error, assert_rows_equal, assert_sdk_error, assert_sdk_ok,
                     directory_json, ev, item_dict, sdk_client, sdk_collect, sdk_list)
from std_org import NOW, standard_org
from refmodel import Model

S, E = "2026-03-01", "2026-03-09"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    acme, sgco = standard_org()
    directory = directory_json(acme, sgco)
    srv = Server(tmp_path_factory.mktemp("params"), directory, NOW).start()
    model = Model(directory)
    U = acme.users
    events = [ev("im.message.sent", U[k], f"2026-03-0{d}T1{d}:00:00+08:00", count=d)
              for d in range(1, 10) for k in ("alice", "bob", "carol", "leo", "zoe")]
    events += [ev("search.performed", U["gina"], "2026-03-06T10:00:00+08:00", kind="tab", count=2)]
    srv.ingest_ok(acme, events)
    model["acme"].add(events)
    clients = {k: sdk_client(srv, a) for k, a in acme.apps.items()}
    yield srv, acme, sgco, model, clients
    srv.close()


def err(resp, status, code, *names):
    assert_sdk_error(resp, status, code, names)


# -- 1051001: parameter rules ------------------------------------------------

BOTH = ("start_date", "end_date")


@pytest.mark.parametrize("params,names", [
    ({"end_date": E}, ("start_date",)),
    ({"start_date": S}, ("end_date",)),
    ({}, BOTH),
    ({"start_date": "2026-02-30", "end_date": E}, ("start_date",)),
    ({"start_date": S, "end_date": "2026-02-30"}, ("end_date",)),
    ({"start_date": "2026-02-29", "end_date": E}, ("start_date",)),
    ({"start_date": "2026-04-31", "end_date": "2026-05-01"}, ("start_date",)),
    ({"start_date": "2026-13-01", "end_date": E}, ("start_date",)),
    ({"start_date": "2026-3-01", "end_date": E}, ("start_date",)),
    ({"start_date": "20260301", "end_date": E}, ("start_date",)),
    ({"start_date": "", "end_date": E}, ("start_date",)),
    ({"start_date": "2026-03-01T00:00:00", "end_date": E}, ("start_date",)),
    ({"start_date": "2026-03-05", "end_date": "2026-03-04"}, BOTH),
    ({"start_date": "2026-01-01", "end_date": "2026-02-01"}, BOTH),
    ({"start_date": "2025-12-15", "end_date": "2026-03-01"}, BOTH),
], ids=["no-start", "no-end", "no-dates", "feb-30-start", "feb-30-end", "feb-29-non-leap", "apr-31",
         "month-13", "no-zero-pad", "compact",
        "empty", "datetime", "start-after-end", "32-days", "77-days"])
def test_bad_dates_1051001(env, params, names):
    _, _, _, _, clients = env
    resp = sdk_list(clients["full"], **params)
    err(resp, 500, 1051001)
    assert any(n in resp.msg for n in names), f"msg should name {names}: {resp.msg!r}"


def test_31_days_inclusive_is_allowed(env):
    _, _, _, _, clients = env
    assert_sdk_ok(sdk_list(clients["full"], start_date="2026-01-01", end_date="2026-01-31"))
    assert_sdk_ok(sdk_list(clients["full"], start_date="2026-02-07", end_date="2026-03-09"))
    assert_sdk_ok(sdk_list(clients["full"], start_date=S, end_date=S))
    assert_sdk_ok(sdk_list(clients["full"], start_date="2028-02-29", end_date="2028-03-01"))  # leap day


@pytest.mark.parametrize("size", ["0", "61", "abc", "-1", "1.5", "1e1"])
def test_bad_page_size_1051001(env, size):
    srv, acme, _, _, _ = env
    tok = srv.token(acme.apps["full"])
    r = srv.get_stats(tok, {"start_date": S, "end_date": E, "page_size": size})
    body = assert_raw_error(r, 500, 1051001)
    assert "page_size" in body["msg"], body


def test_bad_page_size_via_sdk(env):
    _, _, _, _, clients = env
    for size in (0, 61):
        err(sdk_list(clients["full"], start_date=S, end_date=E, page_size=size), 500, 1051001, "page_size")


@pytest.mark.parametrize("param,value", [("user_id_type", "email"), ("user_id_type", "OPEN_ID"),
                                         ("department_id_type", "dept_id"),
                                         ("target_geo", "eu")])
def test_bad_enums_1051001(env, param, value):
    _, _, _, _, clients = env
    err(sdk_list(clients["full"], start_date=S, end_date=E, **{param: value}), 500, 1051001, param)


def test_unknown_department_1051001(env):
    _, acme, sgco, _, clients = env
    c = clients["full"]
    err(sdk_list(c, start_date=S, end_date=E, department_id_type="department_id", department_id="D99"),
        500, 1051001, "department_id")
    err(sdk_list(c, start_date=S, end_date=E, department_id="od-" + "0" * 32), 500, 1051001, "department_id")
    # read per department_id_type: a department_id is not an open_department_id (the default)
    err(sdk_list(c, start_date=S, end_date=E, department_id="D10"), 500, 1051001, "department_id")
    err(sdk_list(c, start_date=S, end_date=E, department_id_type="department_id",
                 department_id=acme.depts["D10"]["open_department_id"]), 500, 1051001, "department_id")
    # another tenant's department is unknown here
    err(sdk_list(c, start_date=S, end_date=E, department_id_type="department_id", department_id="S1"),
        500, 1051001, "department_id")


def test_unknown_user_1051001(env):
    _, acme, sgco, _, clients = env
    c = clients["full"]
    alice = acme.users["alice"]
    err(sdk_list(c, start_date=S, end_date=E, user_id="ou_" + "f" * 32), 500, 1051001, "user_id")
    # read per user_id_type
    err(sdk_list(c, start_date=S, end_date=E, user_id=alice["user_id"]), 500, 1051001, "user_id")
    err(sdk_list(c, start_date=S, end_date=E, user_id_type="user_id", user_id=alice["open_id"]),
        500, 1051001, "user_id")
    err(sdk_list(c, start_date=S, end_date=E, user_id_type="union_id", user_id=alice["open_id"]),
        500, 1051001, "user_id")
    # another tenant's user is unknown here
    err(sdk_list(c, start_date=S, end_date=E, user_id=sgco.users["sam"]["open_id"]), 500, 1051001, "user_id")


# -- 1051002: data scope -----------------------------------------------------

def test_outside_data_scope_1051002(env):
    _, acme, _, _, clients = env
    c = clients["plat"]  # data_scope D11 (and D12 under it)
    D, U = acme.depts, acme.users
    for did in ("D10", "D20", "D21", "0"):       # D10 is D11's parent, 0 the root
        err(sdk_list(c, start_date=S, end_date=E, department_id_type="department_id", department_id=did),
            400, 1051002)
    err(sdk_list(c, start_date=S, end_date=E, department_id=D["D10"]["open_department_id"]), 400, 1051002)
    for k in ("carol", "dave", "frank"):
        err(sdk_list(c, start_date=S, end_date=E, user_id=U[k]["open_id"]), 400, 1051002)
    err(sdk_list(c, start_date=S, end_date=E, user_id_type="user_id", user_id=U["carol"]["user_id"]),
        400, 1051002)
    # inside the scope is fine
    assert_sdk_ok(sdk_list(c, start_date=S, end_date=E, department_id=D["D12"]["open_department_id"]))
    assert_sdk_ok(sdk_list(c, start_date=S, end_date=E, user_id=U["bob"]["open_id"]))


def test_data_scope_restricts_rows(env):
    srv, acme, _, model, clients = env
    for k in ("plat", "multi"):
        app = acme.apps[k]
        rows = sdk_collect(clients[k], start_date=S, end_date=E)
        assert_rows_equal(rows, model["acme"].rows(app, S, E, NOW))
        assert rows
    # multi: D12 and D21 subtrees only
    names = {r["user_name"] for r in sdk_collect(clients["multi"], start_date=S, end_date=E)}
    assert names == {acme.users[k]["name"] for k in ("bob", "gina", "zoe", "erin", "hank", "leo")}


# -- id types and filters ------------------------------------------------------

@pytest.mark.parametrize("uit", ["open_id", "union_id", "user_id"])
@pytest.mark.parametrize("dit", ["department_id", "open_department_id"])
def test_id_type_conversions(env, uit, dit):
    _, acme, _, model, clients = env
    app = acme.apps["full"]
    dept = acme.depts["D10"]
    rows = sdk_collect(clients["full"], start_date=S, end_date=E, user_id_type=uit,
                       department_id_type=dit, department_id=dept[dit])
    assert_rows_equal(rows, model["acme"].rows(app, S, E, NOW, department="D10", user_id_type=uit))
    # and a single user, named in the requested id type
    bob = acme.users["bob"]
    rows = sdk_collect(clients["full"], start_date=S, end_date=E, user_id_type=uit, user_id=bob[uit],
                       department_id_type=dit, department_id=acme.depts["D11"][dit])
    assert_rows_equal(rows, model["acme"].rows(app, S, E, NOW, department="D11", user=bob,
                                               user_id_type=uit))
    assert rows and all(r["user_id"] == bob[uit] for r in rows)


def test_department_and_user_filters_intersect(env):
    _, acme, _, _, clients = env
    c = clients["full"]
    resp = sdk_list(c, start_date=S, end_date=E, department_id=acme.depts["D20"]["open_department_id"],
                    user_id=acme.users["alice"]["open_id"])
    assert_sdk_ok(resp)
    assert not resp.data.items and not resp.data.has_more


def test_root_department_with_department_id_type(env):
    _, acme, _, model, clients = env
    rows = sdk_collect(clients["full"], start_date=S, end_date=E, department_id_type="department_id",
                       department_id="0")
    assert_rows_equal(rows, model["acme"].rows(acme.apps["full"], S, E, NOW))


def test_user_id_filter_with_left_user(env):
    _, acme, _, model, clients = env
    frank = acme.users["frank"]
    rows = sdk_collect(clients["full"], start_date=S, end_date=E, user_id=frank["open_id"])
    assert [r["date"] for r in rows] == [f"2026-03-0{d}" for d in range(1, 7)]
    olga = acme.users["olga"]     # left before the range: known user, no rows
    resp = sdk_list(clients["full"], start_date=S, end_date=E, user_id=olga["open_id"])
    assert_sdk_ok(resp)
    assert not resp.data.items


# -- page size -----------------------------------------------------------------

def test_default_page_size_is_10(env):
    srv, acme, _, model, clients = env
    resp = sdk_list(clients["full"], start_date=S, end_date=E)
    assert_sdk_ok(resp)
    assert len(resp.data.items) == 10 and resp.data.has_more and resp.data.page_token
    expected = model["acme"].rows(acme.apps["full"], S, E, NOW)
    assert_rows_equal([item_dict(i) for i in resp.data.items], expected[:10])


def test_max_page_size_60(env):
    _, acme, _, model, clients = env
    expected = model["acme"].rows(acme.apps["full"], S, E, NOW)
    assert len(expected) > 60
    resp = sdk_list(clients["full"], start_date=S, end_date=E, page_size=60)
    assert_sdk_ok(resp)
    assert len(resp.data.items) == 60 and resp.data.has_more
    resp = sdk_list(clients["full"], start_date=S, end_date=E, page_size=1)
    assert_sdk_ok(resp)
    assert len(resp.data.items) == 1
    assert_rows_equal([item_dict(resp.data.items[0])], expected[:1])


def test_last_page_has_no_page_token(env):
    srv, acme, _, model, _ = env
    tok = srv.token(acme.apps["full"])
    r = srv.get_stats(tok, {"start_date": S, "end_date": S, "page_size": 60})
    data = r.json()["data"]
    assert data["has_more"] is False and "page_token" not in data, data
    # a range with nothing published yet: empty, not an error
    r = srv.get_stats(tok, {"start_date": "2026-03-10", "end_date": "2026-03-20"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["has_more"] is False and data.get("items", []) == [] and "page_token" not in data, data


# -- target_geo ------------------------------------------------------------------

def test_target_geo(env):
    srv, acme, _, model, clients = env
    c = clients["full"]
    local = sdk_collect(c, start_date=S, end_date=S)
    # the instance's own geo (default cn) is served locally
    assert sdk_collect(c, start_date=S, end_date=S, target_geo="cn") == local
    # a geo the tenant did not open -> 1051002; opened but no --peer -> 1051001
    err(sdk_list(c, start_date=S, end_date=S, target_geo="jp"), 400, 1051002)
    err(sdk_list(c, start_date=S, end_date=S, target_geo="sg"), 500, 1051001)


def test_non_ascii_names_and_ids_needing_url_encoding(env):
    _, acme, _, model, clients = env
    app, zhang = acme.apps["full"], acme.users["zhang"]
    rows = sdk_collect(clients["full"], start_date=S, end_date=E, user_id_type="user_id",
                       user_id=zhang["user_id"])
    assert_rows_equal(rows, model["acme"].rows(app, S, E, NOW, user=zhang, user_id_type="user_id"))
    assert rows[0]["user_id"] == "emp/007 #ü&x=1" and rows[0]["user_name"] == "张三"
    assert (rows[0]["department_name"], rows[0]["department_path"]) == ("平台组 / Core", "研发中心/平台组 / Core")
    rows = sdk_collect(clients["full"], start_date=S, end_date=E, department_id_type="department_id",
                       department_id="D30")
    assert [r["user_id"] for r in rows] == [zhang["open_id"]] * len(rows) and rows
