"""The numbers: every field of every row, served through the official SDK,
compared with the reference model computed from the events sent."""
from __future__ import annotations

import pytest

from harness import (Server, assert_rows_equal, check_item_types, directory_json, epoch_ms, ev,
                     raw_collect, sdk_client, sdk_collect, JSON_CT)
from std_org import END, NOW, START, standard_org
from refmodel import Model


def ca(user, ts, platform, os_, package, client=None, **kw):
    attrs = dict(platform=platform, os=os_, package=package)
    if client is not None:
        attrs["client"] = client
    attrs.update(kw)
    return ev("client.active", user, ts, **attrs)


def build_events(acme, sgco):
    U = acme.users
    alice, bob, carol, dave = U["alice"], U["bob"], U["carol"], U["dave"]
    erin, frank, gina, hank, ivan, judy, kate = (U[k] for k in
                                                 ("erin", "frank", "gina", "hank", "ivan", "judy", "kate"))
    cn = []
    # alice: every event type on 03-02, something on most later days
    d = "2026-03-02T"
    cn += [
        ca(alice, d + "09:00:00+08:00", "iOS", "ios 14.2", "Feishu"),
        ca(alice, d + "09:05:00+08:00", "iOS", "ios 14.2", "Feishu", client="feishu 3.40.0-alpha"),
        ca(alice, d + "10:00:00+08:00", "Windows", "Windows 10", "Lark", client=""),
        ca(alice, d + "11:00:00+08:00", "iOS", "ios 14.2", "Feishu", client="feishu 3.40.0-alpha",
           duration_seconds=300),
        ca(alice, d + "12:00:00+08:00", "macOS", "macOS 13", "Lark", client="Lark 7.1"),
        ev("im.message.sent", alice, d + "09:10:00+08:00", count=3),
        ev("im.message.sent", alice, d + "09:11:00+08:00"),
        ev("im.active", alice, d + "09:12:00+08:00"),
        ev("docs.created", alice, d + "09:13:00+08:00", count=2),
        ev("docs.active", alice, d + "09:14:00+08:00"),
        ev("calendar.event.created", alice, d + "09:15:00+08:00"),
        ev("calendar.active", alice, d + "09:16:00+08:00"),
        ev("vc.meeting.joined", alice, d + "09:17:00+08:00", duration_seconds=59),
        ev("vc.meeting.joined", alice, d + "09:18:00+08:00", duration_seconds=61),
        ev("task.created", alice, d + "09:19:00+08:00", count=4),
        ev("email.sent", alice, d + "09:20:00+08:00", external=True, count=2),
        ev("email.sent", alice, d + "09:21:00+08:00", external=False),
        ev("email.received", alice, d + "09:22:00+08:00", external=True, count=5),
        ev("email.received", alice, d + "09:23:00+08:00", external=False, count=7),
        ev("search.performed", alice, d + "09:24:00+08:00", kind="quick", count=3),
        ev("search.performed", alice, d + "21:25:07+08:00", kind="tab", unknown_extra={"x": 1}),
        ev("im.active", alice, "2026-03-03T08:00:00+08:00"),
        # 03-04 nothing: last_active_time carried from 03-03
        ev("vc.meeting.joined", alice, "2026-03-05T10:00:00+08:00", duration_seconds=119),
        ev("vc.meeting.joined", alice, "2026-03-05T11:00:00+08:00", duration_seconds=0),
        ev("task.created", alice, "2026-03-06T10:00:00+08:00"),
        ev("email.received", alice, "2026-03-07T10:00:00+08:00", external=False, count=11),
        ca(alice, "2026-03-08T10:00:00+08:00", "Android", "android 13", "Feishu", client="feishu 7.0"),
        ca(alice, "2026-03-08T10:30:00+08:00", "Web", "chrome 120", "Feishu"),
        ev("search.performed", alice, "2026-03-09T10:00:00+08:00", kind="tab", count=2),
        ev("im.message.sent", alice, "2026-03-10T08:00:00+08:00", count=9),  # 03-10: unpublished
    ]
    # bob: local-day boundaries, other offsets, epoch milliseconds
    b = [
        ev("im.message.sent", bob, "2026-03-03T23:59:59+08:00", count=1),
        ev("im.message.sent", bob, "2026-03-04T00:00:00+08:00", count=10),
        ev("docs.created", bob, "2026-03-03T15:59:59Z", count=1),
        ev("docs.created", bob, "2026-03-03T16:00:00Z", count=10),
        ev("calendar.event.created", bob, "2026-03-03T10:59:59-05:00", count=1),
        ev("calendar.event.created", bob, "2026-03-03T11:00:00-05:00", count=10),
        ev("task.created", bob, epoch_ms("2026-03-03T23:59:59.999+08:00"), count=1),
        ev("task.created", bob, epoch_ms("2026-03-04T00:00:00+08:00"), count=10),
        ev("search.performed", bob, "2026-03-04T23:59:59.500+08:00", kind="quick"),
        ev("email.sent", bob, "2026-03-02T00:00:00+08:00", external=True),
        ev("email.sent", bob, "2026-03-01T23:59:59+08:00", external=True, count=4),
    ]
    cn += b
    # others
    cn += [
        ev("im.message.sent", carol, "2026-03-02T12:00:00+08:00", by="union_id", count=2),
        ev("docs.active", carol, "2026-03-04T12:00:00+08:00", by="user_id"),
        ca(dave, "2026-03-03T09:00:00+08:00", "Linux", "ubuntu 22.04", "Lark", client="lark 7.2"),
        ev("im.active", erin, "2026-03-05T10:10:00+08:00"),
        ev("im.active", frank, "2026-03-06T09:00:00+08:00"),
        ev("im.active", frank, "2026-03-07T09:00:00+08:00"),      # after leaving: kept, not shown
        ev("calendar.active", gina, "2026-03-05T05:00:00+08:00"),
        ev("docs.created", hank, "2026-03-07T00:10:00+08:00", count=3),
        ev("search.performed", ivan, "2026-03-02T10:00:00+08:00", kind="quick", count=6),
        ev("im.active", judy, "2026-02-27T18:45:12+08:00"),          # before the range
        ev("task.created", kate, "2026-03-03T12:00:00+08:00"),
    ]
    # sg tenant (UTC)
    sam, sue = sgco.users["sam"], sgco.users["sue"]
    sg = [
        ev("im.message.sent", sam, "2026-03-02T23:59:59Z", count=1),
        ev("im.message.sent", sam, "2026-03-03T00:00:00Z", count=10),
        ev("im.message.sent", sam, "2026-03-03T07:59:59+08:00", count=100),   # 03-02 23:59:59Z
        ev("docs.created", sam, epoch_ms("2026-03-04T23:59:59.999Z"), count=2),
        ca(sam, "2026-03-05T01:00:00+08:00", "iOS", "ios 17", "Lark"),         # 03-04 17:00Z
        ev("vc.meeting.joined", sue, "2026-03-03T10:00:00Z", duration_seconds=3600),
    ]
    return cn, sg


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    acme, sgco = standard_org()
    directory = directory_json(acme, sgco)
    srv = Server(tmp_path_factory.mktemp("rows"), directory, NOW).start()
    model = Model(directory)
    cn, sg = build_events(acme, sgco)
    # cn as plain ndjson in two batches, sg gzip-compressed
    srv.ingest_ok(acme, cn[:20])
    srv.ingest_ok(acme, cn[20:])
    srv.ingest_ok(sgco, sg, gzip=True)
    model["acme"].add(cn)
    model["sgco"].add(sg)
    yield srv, acme, sgco, model
    srv.close()


def test_every_field_of_every_row_cn(env):
    srv, acme, _, model = env
    app = acme.apps["full"]
    rows = sdk_collect(sdk_client(srv, app), start_date=START, end_date=END)
    expected = model["acme"].rows(app, START, END, NOW)
    assert len(expected) > 100
    assert_rows_equal(rows, expected)


def test_every_field_of_every_row_sg(env):
    srv, _, sgco, model = env
    app = sgco.apps["full"]
    rows = sdk_collect(sdk_client(srv, app), start_date=START, end_date=END)
    expected = model["sgco"].rows(app, START, END, NOW)
    assert_rows_equal(rows, expected)
    # sg is UTC: at 2026-03-10T04:00Z only 03-01..03-08 are published
    assert {r["date"] for r in rows} == {f"2026-03-0{i}" for i in range(1, 9)}


def test_raw_json_types_of_every_field(env):
    srv, acme, _, model = env
    app = acme.apps["full"]
    token = srv.token(app)
    r = srv.get_stats(token, {"start_date": START, "end_date": END, "page_size": 60})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == JSON_CT
    body = r.json()
    assert body["code"] == 0 and body["msg"] == "success"
    assert set(body["data"]) >= {"has_more", "items"}
    assert type(body["data"]["has_more"]) is bool
    for item in body["data"]["items"]:
        check_item_types(item)
    items = raw_collect(srv, token, {"start_date": START, "end_date": END})
    assert_rows_equal(items, model["acme"].rows(app, START, END, NOW))


def test_alice_all_event_types(env):
    srv, acme, _, model = env
    app, alice = acme.apps["full"], acme.users["alice"]
    rows = sdk_collect(sdk_client(srv, app), start_date=START, end_date=END, user_id=alice["open_id"])
    expected = model["acme"].rows(app, START, END, NOW, user=alice)
    assert_rows_equal(rows, expected)
    day = {r["date"]: r for r in rows}
    d2 = day["2026-03-02"]
    # spot checks written out by hand from events.md
    assert d2["active_os"] == ("'Windows 10,-','ios 14.2,-','ios 14.2,feishu 3.40.0-alpha',"
                               "'macOS 13,Lark 7.1'")
    assert d2["os_name"] == "Windows,iOS,macOS"
    assert d2["app_package_type"] == "Feishu,Lark"
    assert (d2["send_messenger_num"], d2["create_docs_num"], d2["create_cal_num"],
            d2["create_task_num"], d2["vc_num"], d2["vc_duration"]) == (4, 2, 1, 4, 2, 2)
    assert (d2["email_send_count"], d2["email_send_ext_count"], d2["email_send_in_count"]) == ("3", "2", "1")
    assert (d2["email_receive_count"], d2["email_receive_ext_count"],
            d2["email_receive_in_count"]) == ("12", "5", "7")
    assert (d2["total_search_count"], d2["quick_search_count"], d2["tab_search_count"]) == ("4", "3", "1")
    assert d2["last_active_time"] == "2026-03-02 21:25:07"
    assert all(d2[f] == 1 for f in ("suite_active_flag", "im_active_flag", "docs_active_flag",
                                     "cal_active_flag", "vc_active_flag", "search_active_flag"))
    assert day["2026-03-04"]["last_active_time"] == "2026-03-03 08:00:00"
    assert day["2026-03-04"]["suite_active_flag"] == 0
    assert (day["2026-03-05"]["vc_num"], day["2026-03-05"]["vc_duration"]) == (2, 1)
    d6 = day["2026-03-06"]
    assert (d6["suite_active_flag"], d6["create_task_num"], d6["im_active_flag"]) == (1, 1, 0)
    assert day["2026-03-08"]["os_name"] == "Android,Web"
    assert day["2026-03-08"]["active_os"] == "'android 13,feishu 7.0','chrome 120,-'"
    assert "2026-03-10" not in day


def test_local_day_boundaries_offsets_and_epoch_ms(env):
    srv, acme, _, model = env
    app, bob = acme.apps["full"], acme.users["bob"]
    rows = sdk_collect(sdk_client(srv, app), start_date="2026-03-01", end_date="2026-03-05",
                       user_id=bob["open_id"])
    assert_rows_equal(rows, model["acme"].rows(app, "2026-03-01", "2026-03-05", NOW, user=bob))
    day = {r["date"]: r for r in rows}
    d3, d4 = day["2026-03-03"], day["2026-03-04"]
    assert (d3["send_messenger_num"], d3["create_docs_num"], d3["create_cal_num"],
            d3["create_task_num"]) == (1, 1, 1, 1)
    assert (d4["send_messenger_num"], d4["create_docs_num"], d4["create_cal_num"],
            d4["create_task_num"]) == (10, 10, 10, 10)
    assert d3["last_active_time"] == "2026-03-03 23:59:59"
    assert d4["last_active_time"] == "2026-03-04 23:59:59"
    assert day["2026-03-01"]["email_send_count"] == "4"
    assert day["2026-03-02"]["email_send_count"] == "1"


def test_two_time_zones_in_one_directory(env):
    srv, _, sgco, model = env
    app, sam = sgco.apps["full"], sgco.users["sam"]
    rows = sdk_collect(sdk_client(srv, app), start_date=START, end_date=END, user_id=sam["open_id"])
    assert_rows_equal(rows, model["sgco"].rows(app, START, END, NOW, user=sam))
    day = {r["date"]: r for r in rows}
    assert day["2026-03-02"]["send_messenger_num"] == 101      # 23:59:59Z and 07:59:59+08:00
    assert day["2026-03-03"]["send_messenger_num"] == 10
    assert day["2026-03-04"]["create_docs_num"] == 2
    assert day["2026-03-04"]["os_name"] == "iOS"
    assert day["2026-03-04"]["last_active_time"] == "2026-03-04 23:59:59"
    # directory times are shown in the tenant's local time (UTC here)
    assert day["2026-03-01"]["create_time"] == "2025-11-01 00:00:00"
    sue_rows = sdk_collect(sdk_client(srv, app), start_date=START, end_date="2026-03-03",
                           user_id=sgco.users["sue"]["open_id"])
    assert [(r["date"], r["user_active_flag"], r["create_time"], r["register_time"]) for r in sue_rows] == [
        ("2026-03-02", 1, "2026-03-02 23:30:00", "2026-03-02 23:59:59"),
        ("2026-03-03", 1, "2026-03-02 23:30:00", "2026-03-02 23:59:59"),
    ]


def test_directory_fields_membership_and_activation(env):
    srv, acme, _, model = env
    app = acme.apps["full"]
    client = sdk_client(srv, app)
    rows = sdk_collect(client, start_date=START, end_date=END)
    by_user: dict[str, list[dict]] = {}
    for r in rows:
        by_user.setdefault(r["user_id"], []).append(r)
    U = acme.users
    dates = lambda k: [r["date"] for r in by_user.get(U[k]["open_id"], [])]
    # users created / leaving mid-range (local dates, times given in other offsets)
    assert dates("erin")[0] == "2026-03-05"
    assert dates("gina")[0] == "2026-03-05"
    assert by_user[U["gina"]["open_id"]][0]["create_time"] == "2026-03-05 04:00:00"
    assert dates("frank")[-1] == "2026-03-06"
    assert dates("hank")[-1] == "2026-03-07"
    assert dates("olga") == [] and dates("pete") == []
    assert dates("nina")[0] == "2026-03-05" and dates("owen")[-1] == "2026-03-06"
    # inactive users have rows with zeros and empty strings
    zoe = by_user[U["zoe"]["open_id"]]
    assert len(zoe) == 9 and all(r["suite_active_flag"] == 0 and r["active_os"] == "" and
                                 r["last_active_time"] == "" and r["email_send_count"] == "0"
                                 for r in zoe)
    # department name / path; root users have ""
    a0 = by_user[U["bob"]["open_id"]][0]
    assert (a0["department_name"], a0["department_path"]) == ("Infra", "Engineering/Platform/Infra")
    d0 = by_user[U["dave"]["open_id"]][0]
    assert (d0["department_name"], d0["department_path"]) == ("", "")
    # user_active_flag from register_time (end-of-day rule, other offsets)
    flag = lambda k: {r["date"]: r["user_active_flag"] for r in by_user[U[k]["open_id"]]}
    assert flag("carol")["2026-03-03"] == 0 and flag("carol")["2026-03-04"] == 1
    assert flag("kate")["2026-03-02"] == 0 and flag("kate")["2026-03-03"] == 1
    assert set(flag("ivan").values()) == {0}
    assert by_user[U["ivan"]["open_id"]][0]["register_time"] == ""
    # last_active_time from before the range start is carried
    assert {r["last_active_time"] for r in by_user[U["judy"]["open_id"]]} == {"2026-02-27 18:45:12"}
    assert_rows_equal(rows, model["acme"].rows(app, START, END, NOW))


def test_ordering_by_date_then_open_id(env):
    srv, acme, _, _ = env
    client = sdk_client(srv, acme.apps["full"])
    for uit in ("open_id", "user_id", "union_id"):
        rows = sdk_collect(client, start_date="2026-03-04", end_date="2026-03-06", user_id_type=uit)
        to_open = {u[uit]: u["open_id"] for u in acme.users.values()}
        keys = [(r["date"], to_open[r["user_id"]]) for r in rows]
        assert keys == sorted(keys), uit
        assert len(set(keys)) == len(keys)
    # user_ids sort differently from open_ids, so the order above is a real check
    by_open = sorted(acme.users.values(), key=lambda u: u["open_id"])
    assert [u["user_id"] for u in by_open] != sorted(u["user_id"] for u in by_open)


def test_async_sdk_path(env):
    """lark-oapi's `alist` (httpx) reads the same data."""
    import asyncio
    from lark_oapi.api.admin.v1 import ListAdminUserStatRequest
    from harness import item_dict
    srv, acme, _, model = env
    app, alice = acme.apps["full"], acme.users["alice"]
    client = sdk_client(srv, app)
    req = (ListAdminUserStatRequest.builder().start_date(START).end_date(END)
           .user_id(alice["open_id"]).page_size(60).build())
    resp = asyncio.run(client.admin.v1.admin_user_stat.alist(req))
    assert resp.success() and resp.code == 0, (resp.code, resp.msg)
    assert_rows_equal([item_dict(i) for i in resp.data.items],
                      model["acme"].rows(app, START, END, NOW, user=alice))
