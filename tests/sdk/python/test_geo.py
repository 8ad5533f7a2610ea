"""target_geo: a query for another geo is forwarded to the --peer serving it,
as the same tenant and app, and the peer's answer is returned unchanged."""
from __future__ import annotations

import pytest

from harness import (Server, TenantBuilder, assert_rows_equal, assert_sdk_error, assert_sdk_ok,
                     directory_json, ev, item_dict, sdk_client, sdk_collect, sdk_list)
from refmodel import Model

NOW = "2026-03-10T12:00:00+08:00"
S, E = "2026-03-01", "2026-03-09"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    t = TenantBuilder("geoco", "cn", cross_geo=["sg"])
    for i in range(6):
        t.user(f"u{i}")
    t.app("full")
    t.app("narrow", data_scope=[])
    directory = directory_json(t)
    # the sg instance has its own data; the cn instance knows it as its sg peer
    sg = Server(tmp_path_factory.mktemp("geo-sg"), directory, NOW, extra_args=["--geo", "sg"]).start()
    cn = Server(tmp_path_factory.mktemp("geo-cn"), directory, NOW,
                extra_args=["--geo", "cn", "--peer", f"sg={sg.base}"]).start()
    sg_events = [ev("im.message.sent", t.users[f"u{i}"], f"2026-03-0{1 + i}T10:00:00+08:00", count=10 + i)
                 for i in range(6)]
    cn_events = [ev("docs.created", t.users["u0"], "2026-03-05T10:00:00+08:00", count=3)]
    sg.ingest_ok(t, sg_events)
    cn.ingest_ok(t, cn_events)
    m_sg, m_cn = Model(directory), Model(directory)
    m_sg["geoco"].add(sg_events)
    m_cn["geoco"].add(cn_events)
    yield cn, sg, t, m_cn, m_sg
    cn.close()
    sg.close()


def test_local_and_forwarded(env):
    cn, sg, t, m_cn, m_sg = env
    app = t.apps["full"]
    client = sdk_client(cn, app)
    assert_rows_equal(sdk_collect(client, start_date=S, end_date=E), m_cn["geoco"].rows(app, S, E, NOW))
    assert_rows_equal(sdk_collect(client, start_date=S, end_date=E, target_geo="cn"),
                      m_cn["geoco"].rows(app, S, E, NOW))
    # forwarded to the sg instance: its numbers, paged through the cn instance
    forwarded = sdk_collect(client, start_date=S, end_date=E, target_geo="sg", page_size=7)
    assert_rows_equal(forwarded, m_sg["geoco"].rows(app, S, E, NOW))
    direct = sdk_collect(sdk_client(sg, app), start_date=S, end_date=E, page_size=7)
    assert forwarded == direct


def test_forwarded_errors_come_back_unchanged(env):
    cn, sg, t, _, _ = env
    client = sdk_client(cn, t.apps["full"])
    resp = sdk_list(client, start_date="2026-02-30", end_date=E, target_geo="sg")
    assert_sdk_error(resp, 500, 1051001, ["start_date"])
    resp = sdk_list(client, start_date=S, end_date=E, target_geo="us")   # not in cross_geo
    assert_sdk_error(resp, 400, 1051002)


def test_forwarded_first_page(env):
    cn, sg, t, _, m_sg = env
    app = t.apps["full"]
    resp = sdk_list(sdk_client(cn, app), start_date=S, end_date=E, target_geo="sg", page_size=5)
    assert_sdk_ok(resp)
    assert resp.data.has_more
    assert_rows_equal([item_dict(i) for i in resp.data.items], m_sg["geoco"].rows(app, S, E, NOW)[:5])


def test_empty_data_scope_reads_no_user(env):
    cn, _, t, _, _ = env
    resp = sdk_list(sdk_client(cn, t.apps["narrow"]), start_date=S, end_date=E)
    assert_sdk_ok(resp)
    assert not resp.data.items and not resp.data.has_more
    resp = sdk_list(sdk_client(cn, t.apps["narrow"]), start_date=S, end_date=E, user_id=t.users["u1"]["open_id"])
    assert_sdk_error(resp, 400, 1051002)
