"""Publication at 09:30 local time on D+1 (relative to --now), per tenant
time zone, and late events restating a published day."""
from __future__ import annotations

import pytest

from harness import (Server, TenantBuilder, assert_rows_equal, directory_json, ev, sdk_client,
                     sdk_collect)
from refmodel import Model

S, E = "2026-06-01", "2026-06-10"
# the server is restarted on the same --data with these --now values
CN_BEFORE = "2026-06-05T09:29:59+08:00"   # 06-04 not yet published in cn
CN_AT = "2026-06-05T09:30:00+08:00"       # 06-04 published in cn
SG_BEFORE = "2026-06-05T09:29:59Z"        # (= 17:29:59 +08: cn has 06-04, sg not)
SG_AT = "2026-06-05T09:30:00Z"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cn = TenantBuilder("pubcn", "cn")
    cn.user("a")
    cn.user("b")
    cn.app("full")
    sg = TenantBuilder("pubsg", "sg")
    sg.user("c")
    sg.app("full")
    directory = directory_json(cn, sg)
    srv = Server(tmp_path_factory.mktemp("publication"), directory, CN_BEFORE).start()
    model = Model(directory)
    ecn = [ev("im.message.sent", cn.users["a"], f"2026-06-0{d}T12:00:00+08:00", count=d) for d in range(1, 6)]
    esg = [ev("im.message.sent", sg.users["c"], f"2026-06-0{d}T12:00:00Z", count=d) for d in range(1, 6)]
    srv.ingest_ok(cn, ecn)
    srv.ingest_ok(sg, esg)
    model["pubcn"].add(ecn)
    model["pubsg"].add(esg)
    yield srv, cn, sg, model
    srv.close()


def dates(rows):
    return sorted({r["date"] for r in rows})


def served(srv, tenant, model, now):
    app = tenant.apps["full"]
    rows = sdk_collect(sdk_client(srv, app), start_date=S, end_date=E)
    assert_rows_equal(rows, model[tenant.key].rows(app, S, E, now))
    return rows


def test_cutoff_0930_cn(env):
    srv, cn, _, model = env
    srv.restart(now=CN_BEFORE)
    assert dates(served(srv, cn, model, CN_BEFORE))[-1] == "2026-06-03"
    srv.restart(now=CN_AT)
    assert dates(served(srv, cn, model, CN_AT))[-1] == "2026-06-04"


def test_cutoff_0930_sg(env):
    srv, cn, sg, model = env
    srv.restart(now=SG_BEFORE)
    assert dates(served(srv, sg, model, SG_BEFORE))[-1] == "2026-06-03"
    # at the same instant cn (UTC+8, 17:29:59 local) has 06-04
    assert dates(served(srv, cn, model, SG_BEFORE))[-1] == "2026-06-04"
    srv.restart(now=SG_AT)
    assert dates(served(srv, sg, model, SG_AT))[-1] == "2026-06-04"


def test_unpublished_day_events_counted_once_published(env):
    srv, cn, _, model = env
    srv.restart(now=CN_BEFORE)
    rows = served(srv, cn, model, CN_BEFORE)
    assert "2026-06-04" not in dates(rows)
    # events of an unpublished day (and of today) are accepted, not shown yet
    late = [ev("docs.created", cn.users["b"], "2026-06-04T23:00:00+08:00", count=6),
            ev("docs.created", cn.users["b"], "2026-06-05T08:00:00+08:00", count=2)]
    srv.ingest_ok(cn, late)
    model["pubcn"].add(late)
    served(srv, cn, model, CN_BEFORE)
    srv.restart(now=CN_AT)
    rows = served(srv, cn, model, CN_AT)
    b = cn.users["b"]["open_id"]
    assert [r["create_docs_num"] for r in rows if r["user_id"] == b and r["date"] == "2026-06-04"] == [6]


def test_late_events_restate_a_published_day(env):
    srv, cn, sg, model = env
    srv.restart(now=CN_AT)
    before = {(r["date"], r["user_id"]): r for r in served(srv, cn, model, CN_AT)}
    a = cn.users["a"]
    late = [ev("im.message.sent", a, "2026-06-02T23:59:59+08:00", count=40),
            ev("vc.meeting.joined", a, "2026-06-02T08:00:00+08:00", duration_seconds=600)]
    srv.ingest_ok(cn, late)
    model["pubcn"].add(late)
    after = {(r["date"], r["user_id"]): r for r in served(srv, cn, model, CN_AT)}
    key = ("2026-06-02", a["open_id"])
    assert before[key]["send_messenger_num"] == 2 and after[key]["send_messenger_num"] == 42
    assert after[key]["vc_duration"] == 10
    # last_active_time of the following published days moves too
    assert after[("2026-06-03", a["open_id"])]["last_active_time"] == "2026-06-03 12:00:00"
    assert after[key]["last_active_time"] == "2026-06-02 23:59:59"
