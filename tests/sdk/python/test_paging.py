"""Pagination: page tokens, page sizes, completeness while events arrive."""
from __future__ import annotations

import random

import pytest

from harness import (Server, TenantBuilder, assert_rows_equal, assert_sdk_error, assert_sdk_ok,
                     directory_json, ev, item_dict, sdk_client, sdk_collect, sdk_list)
from refmodel import Model

NOW = "2026-05-20T10:00:00+08:00"   # cn publishes through 05-18
S, E = "2026-05-05", "2026-05-18"    # 14 days


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    t = TenantBuilder("pageco", "cn")
    t.dept("A", "Alpha")
    t.dept("B", "Beta", "A")
    for i in range(24):
        t.user(f"u{i:02d}", f"User {i:02d}", dept=("A", "B", "0")[i % 3],
               create="2026-05-08T12:00:00+08:00" if i == 5 else "2025-01-01T00:00:00+08:00",
               leave="2026-05-12T12:00:00+08:00" if i == 7 else None)
    t.app("full")
    t.app("twin")   # same tenant, same scope, another app
    o = TenantBuilder("otherco", "cn")
    o.user("x")
    o.app("full")
    directory = directory_json(t, o)
    srv = Server(tmp_path_factory.mktemp("paging"), directory, NOW).start()
    model = Model(directory)
    rnd = random.Random(7)
    users = list(t.users.values())
    events = [ev("im.message.sent", rnd.choice(users),
                 f"2026-05-{rnd.randint(5, 18):02d}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:00+08:00",
                 count=rnd.randint(1, 9)) for _ in range(300)]
    srv.ingest_ok(t, events)
    model["pageco"].add(events)
    yield srv, t, o, model
    srv.close()


def first_page(client, **params):
    resp = sdk_list(client, **params)
    assert_sdk_ok(resp)
    assert resp.data.has_more and resp.data.page_token
    return resp


@pytest.mark.parametrize("page_size", [7, 10, 60])
def test_paging_collects_every_row_exactly_once(env, page_size):
    srv, t, _, model = env
    rows = sdk_collect(sdk_client(srv, t.apps["full"]), page_size=page_size, start_date=S, end_date=E)
    expected = model["pageco"].rows(t.apps["full"], S, E, NOW)
    assert len(expected) > 300
    assert_rows_equal(rows, expected)


def test_default_page_size_paging(env):
    srv, t, _, model = env
    client = sdk_client(srv, t.apps["full"])
    rows, token, pages = [], None, 0
    while True:
        resp = sdk_list(client, start_date=S, end_date="2026-05-07", page_token=token)
        assert_sdk_ok(resp)
        items = resp.data.items or []
        rows += [item_dict(i) for i in items]
        pages += 1
        if not resp.data.has_more:
            break
        assert len(items) == 10
        token = resp.data.page_token
    expected = model["pageco"].rows(t.apps["full"], S, "2026-05-07", NOW)
    assert pages == (len(expected) + 9) // 10
    assert_rows_equal(rows, expected)


def test_page_size_may_change_between_pages(env):
    srv, t, _, model = env
    client = sdk_client(srv, t.apps["full"])
    rows, token, sizes = [], None, [3, 17, 1, 60, 9]
    i = 0
    while True:
        resp = sdk_list(client, start_date=S, end_date=E, page_size=sizes[i % len(sizes)], page_token=token)
        assert_sdk_ok(resp)
        assert len(resp.data.items or []) <= sizes[i % len(sizes)]
        rows += [item_dict(x) for x in resp.data.items or []]
        i += 1
        if not resp.data.has_more:
            break
        token = resp.data.page_token
    assert_rows_equal(rows, model["pageco"].rows(t.apps["full"], S, E, NOW))


def test_paging_while_events_arrive(env):
    srv, t, _, model = env
    client = sdk_client(srv, t.apps["full"])
    rnd = random.Random(11)
    users = list(t.users.values())
    rows, token, added = [], None, []
    for _ in range(1000):
        resp = sdk_list(client, start_date=S, end_date=E, page_size=13, page_token=token)
        assert_sdk_ok(resp)
        rows += [item_dict(x) for x in resp.data.items or []]
        # events for days both behind and ahead of the cursor, between pages
        batch = [ev(rnd.choice(["docs.created", "task.created", "im.message.sent"]), rnd.choice(users),
                    f"2026-05-{rnd.randint(5, 18):02d}T{rnd.randint(0, 23):02d}:30:00+08:00",
                    count=rnd.randint(1, 4)) for _ in range(3)]
        srv.ingest_ok(t, batch)
        added += batch
        if not resp.data.has_more:
            break
        token = resp.data.page_token
    model["pageco"].add(added)
    keys = [(r["date"], r["user_id"]) for r in rows]
    expected = model["pageco"].rows(t.apps["full"], S, E, NOW)
    assert len(keys) == len(set(keys)), "a row was served twice"
    assert keys == [(r["date"], r["user_id"]) for r in expected], "rows skipped or out of order"
    # a fresh read shows every event
    assert_rows_equal(sdk_collect(client, start_date=S, end_date=E), expected)


def test_page_token_compared_after_defaults(env):
    srv, t, _, model = env
    client = sdk_client(srv, t.apps["full"])
    resp = first_page(client, start_date=S, end_date=E, page_size=20)
    explicit = dict(start_date=S, end_date=E, user_id_type="open_id", department_id_type="open_department_id",
                    target_geo="cn")
    nxt = sdk_list(client, page_size=20, page_token=resp.data.page_token, **explicit)
    assert_sdk_ok(nxt)
    expected = model["pageco"].rows(t.apps["full"], S, E, NOW)
    assert_rows_equal([item_dict(x) for x in resp.data.items + nxt.data.items], expected[:40])


@pytest.mark.parametrize("change", [
    {"start_date": "2026-05-06"}, {"end_date": "2026-05-17"}, {"user_id_type": "union_id"},
    {"department_id_type": "department_id", "department_id": "A"}, {"user_id": "USER"},
], ids=["start_date", "end_date", "user_id_type", "department_id", "user_id"])
def test_page_token_from_another_query_1051001(env, change):
    srv, t, _, _ = env
    client = sdk_client(srv, t.apps["full"])
    base = dict(start_date=S, end_date=E, page_size=5)
    token = first_page(client, **base).data.page_token
    change = {k: (t.users["u03"]["open_id"] if v == "USER" else v) for k, v in change.items()}
    resp = sdk_list(client, **{**base, **change}, page_token=token)
    assert_sdk_error(resp, 500, 1051001, ["page_token"])


def test_page_token_from_another_app_or_tenant_1051001(env):
    srv, t, o, _ = env
    token = first_page(sdk_client(srv, t.apps["full"]), start_date=S, end_date=E, page_size=5).data.page_token
    for app in (t.apps["twin"], o.apps["full"]):
        resp = sdk_list(sdk_client(srv, app), start_date=S, end_date=E, page_size=5, page_token=token)
        assert_sdk_error(resp, 500, 1051001, ["page_token"])


def tampered(token: str) -> list[str]:
    mid = len(token) // 2
    c = token[mid]
    repl = ("1" if c != "1" else "2") if c.isdigit() else ("a" if c != "a" else "b")
    flipped = token[:mid] + repl + token[mid + 1:]
    return [flipped, token[:-4], token + "AAAA", token[::-1], "bm90LWEtdG9rZW4", "x", "%%%"]


def test_tampered_page_token_1051001(env):
    srv, t, _, _ = env
    client = sdk_client(srv, t.apps["full"])
    token = first_page(client, start_date=S, end_date=E, page_size=5).data.page_token
    for bad in tampered(token):
        resp = sdk_list(client, start_date=S, end_date=E, page_size=5, page_token=bad)
        assert_sdk_error(resp, 500, 1051001, ["page_token"])
    # the genuine one still works
    assert_sdk_ok(sdk_list(client, start_date=S, end_date=E, page_size=5, page_token=token))


def test_page_token_can_be_replayed(env):
    srv, t, _, _ = env
    client = sdk_client(srv, t.apps["full"])
    token = first_page(client, start_date=S, end_date=E, page_size=5).data.page_token
    a = sdk_list(client, start_date=S, end_date=E, page_size=5, page_token=token)
    b = sdk_list(client, start_date=S, end_date=E, page_size=5, page_token=token)
    assert_sdk_ok(a)
    assert_sdk_ok(b)
    assert [item_dict(x)["user_id"] for x in a.data.items] == [item_dict(x)["user_id"] for x in b.data.items]
