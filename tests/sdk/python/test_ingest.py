"""POST /ingest/v1/events: the reply, duplicates, rejected lines with their
1-based numbers, gzip, tokens and body limits. What was accepted is checked
through admin_user_stats with the SDK against the reference model."""
from __future__ import annotations

import gzip
import json

import pytest

from harness import (Server, assert_json_response, assert_rows_equal, directory_json, epoch_ms, ev,
                     ndjson, new_event_id, sdk_client, sdk_collect)
from harness import TenantBuilder
from refmodel import Model

# --now: 2026-04-10 12:00 UTC+8. 04-01..04-09 are published for the cn tenant.
NOW = "2026-04-10T12:00:00+08:00"
S, E = "2026-04-01", "2026-04-09"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    acme = TenantBuilder("ingco", "cn")
    acme.dept("D1", "Ops")
    for k in ("ann", "ben", "cat", "dan", "eve", "fay", "guy", "hal", "ida", "jon", "kim", "lou"):
        acme.user(k, dept="D1" if k < "f" else "0")
    acme.app("full")
    other = TenantBuilder("otherco", "us")
    other.user("zed")
    other.app("full")
    directory = directory_json(acme, other)
    srv = Server(tmp_path_factory.mktemp("ingest"), directory, NOW).start()
    model = Model(directory)
    client = sdk_client(srv, acme.apps["full"])
    yield srv, acme, other, model, client
    srv.close()


def post(srv, tenant, lines, **kw):
    r = srv.ingest_raw(ndjson(lines) if not isinstance(lines, bytes) else lines,
                       token=kw.pop("token", tenant.ingest_token), **kw)
    return r


def reply(r) -> dict:
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers.get("Content-Type") == "application/json; charset=utf-8", r.headers
    body = r.json()
    assert body["code"] == 0 and body["msg"] == "success", body
    data = body["data"]
    assert set(data) >= {"accepted", "duplicates", "rejected"}, data
    assert type(data["accepted"]) is int and type(data["duplicates"]) is int
    for rej in data["rejected"]:
        assert type(rej["line"]) is int and isinstance(rej["reason"], str) and rej["reason"], rej
    return data


def user_rows(env, key, start=S, end=E):
    srv, acme, _, model, client = env
    u = acme.users[key]
    served = sdk_collect(client, start_date=start, end_date=end, user_id=u["open_id"])
    expected = model["ingco"].rows(acme.apps["full"], start, end, NOW, user=u)
    assert_rows_equal(served, expected)
    return {r["date"]: r for r in served}


# -- the reply and duplicates ----------------------------------------------------

def test_reply_envelope_counts(env):
    srv, acme, _, model, _ = env
    u = acme.users["ann"]
    events = [ev("im.message.sent", u, "2026-04-02T10:00:00+08:00", count=2),
              ev("im.active", u, "2026-04-02T11:00:00+08:00", by="union_id"),
              ev("docs.created", u, "2026-04-02T12:00:00+08:00", by="user_id")]
    data = reply(post(srv, acme, events))
    assert data == {**data, "accepted": 3, "duplicates": 0, "rejected": []}
    model["ingco"].add(events)
    d = user_rows(env, "ann")["2026-04-02"]
    assert (d["send_messenger_num"], d["create_docs_num"]) == (2, 1)


def test_duplicates_in_one_batch_and_in_a_retried_batch(env):
    srv, acme, _, model, _ = env
    u = acme.users["ben"]
    e1 = ev("im.message.sent", u, "2026-04-03T10:00:00+08:00", count=5)
    e2 = ev("docs.created", u, "2026-04-03T10:05:00+08:00", count=7)
    e1_again_changed = dict(e1, count=50)        # same id, other content: still a duplicate
    data = reply(post(srv, acme, [e1, e2, e1, e1_again_changed]))
    assert (data["accepted"], data["duplicates"], data["rejected"]) == (2, 2, [])
    # producers retry the whole batch
    data = reply(post(srv, acme, [e1, e2]))
    assert (data["accepted"], data["duplicates"], data["rejected"]) == (0, 2, [])
    # and again mixed with a new one, gzip-compressed
    e3 = ev("calendar.event.created", u, "2026-04-03T11:00:00+08:00", count=3)
    body = gzip.compress(ndjson([e2, e3, e1]))
    data = reply(srv.ingest_raw(body, token=acme.ingest_token, gzip=True))
    assert (data["accepted"], data["duplicates"], data["rejected"]) == (1, 2, [])
    model["ingco"].add([e1, e2, e3])
    d = user_rows(env, "ben")["2026-04-03"]
    assert (d["send_messenger_num"], d["create_docs_num"], d["create_cal_num"]) == (5, 7, 3)


def test_concurrent_batches_with_the_same_events_count_once(env):
    srv, acme, _, model, _ = env
    import threading
    u = acme.users["kim"]
    events = [ev("task.created", u, f"2026-04-02T{h:02d}:{m:02d}:00+08:00", count=1 + m % 3)
              for h in range(10, 15) for m in range(0, 60, 6)]
    replies = []
    barrier = threading.Barrier(4)

    def send():
        barrier.wait()
        replies.append(reply(post(srv, acme, events, gzip=False)))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(replies) == 4
    assert sum(r["accepted"] for r in replies) == len(events), replies
    assert sum(r["duplicates"] for r in replies) == 3 * len(events), replies
    model["ingco"].add(events)
    assert user_rows(env, "kim")["2026-04-02"]["create_task_num"] == sum(e["count"] for e in events)


def test_event_ids_are_per_tenant(env):
    srv, acme, other, model, _ = env
    shared_id = new_event_id()
    a = ev("im.active", acme.users["cat"], "2026-04-04T10:00:00+08:00", event_id=shared_id)
    b = ev("im.active", other.users["zed"], "2026-04-04T10:00:00+08:00", event_id=shared_id)
    assert reply(post(srv, acme, [a]))["accepted"] == 1
    assert reply(post(srv, other, [b]))["accepted"] == 1
    model["ingco"].add([a])
    assert user_rows(env, "cat")["2026-04-04"]["im_active_flag"] == 1


def test_event_cannot_name_another_tenant(env):
    srv, acme, other, _, _ = env
    # a user of acme sent with otherco's token is an unknown user there
    e = ev("im.active", acme.users["cat"], "2026-04-04T10:00:00+08:00", tenant_key="ingco")
    data = reply(post(srv, other, [e]))
    assert data["accepted"] == 0 and [x["line"] for x in data["rejected"]] == [1]


# -- rejected lines --------------------------------------------------------------------

def bad_lines(u):
    """(line, why) pairs: every one must be rejected."""
    ts = "2026-04-05T10:00:00+08:00"
    base = lambda t="im.active", **kw: {"event_id": new_event_id(), "type": t, "open_id": u["open_id"],
                                        "ts": ts, **kw}
    ca = dict(platform="iOS", os="ios 17", package="Feishu")
    two_users = base(); two_users["user_id"] = u["user_id"]
    no_user = base(); del no_user["open_id"]
    no_id = base(); del no_id["event_id"]
    no_type = base(); del no_type["type"]
    no_ts = base(); del no_ts["ts"]
    unknown_uid = base(); del unknown_uid["open_id"]; unknown_uid["user_id"] = "nobody-here"
    return [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON array, not an object"),
        ('"im.active"', "JSON string, not an object"),
        ("null", "JSON null"),
        (base("im.unknown"), "unknown type"),
        (base(open_id="ou_" + "0" * 32), "unknown user"),
        (unknown_uid, "unknown user_id"),
        (two_users, "two user fields"),
        (no_user, "no user field"),
        (no_id, "missing event_id"),
        (base(event_id=""), "empty event_id"),
        (base(event_id="x" * 129), "event_id of 129 chars"),
        (base(event_id=12345), "event_id not a string"),
        (no_type, "missing type"),
        (no_ts, "missing ts"),
        (base(ts="2026-04-05T10:00:00"), "ts without offset"),
        (base(ts="yesterday"), "ts garbage"),
        (base(ts="2026-04-11T12:00:01+08:00"), "ts 24h+1s after --now"),
        (base(ts=epoch_ms("2026-04-11T12:00:00+08:00") + 1), "epoch ms 24h+1ms after --now"),
        (base("im.message.sent", count=0), "zero count"),
        (base("im.message.sent", count=-3), "negative count"),
        (base("im.message.sent", count=1.5), "float count"),
        (base("docs.created", count="2"), "string count"),
        (base("client.active", **{k: v for k, v in ca.items() if k != "platform"}), "no platform"),
        (base("client.active", **{k: v for k, v in ca.items() if k != "os"}), "no os"),
        (base("client.active", **{k: v for k, v in ca.items() if k != "package"}), "no package"),
        (base("client.active", **(ca | {"platform": "Symbian"})), "bad platform"),
        (base("client.active", **(ca | {"package": "WeChat"})), "bad package"),
        (base("vc.meeting.joined"), "vc without duration_seconds"),
        (base("vc.meeting.joined", duration_seconds=-1), "negative vc duration"),
        (base("email.sent", count=1), "email without external"),
        (base("email.received", external="yes"), "external not a bool"),
        (base("search.performed"), "search without kind"),
        (base("search.performed", kind="deep"), "bad kind"),
    ]


def test_bad_lines_rejected_with_line_numbers(env):
    srv, acme, _, model, _ = env
    u = acme.users["dan"]
    good = []
    lines = []
    expected_rejected = {}
    g = lambda t, h, **kw: ev(t, u, f"2026-04-05T{h:02d}:00:00+08:00", **kw)
    for i, (line, why) in enumerate(bad_lines(u)):
        e = g("im.message.sent", 8 + i % 12, count=1)
        good.append(e)
        lines.append(e)
        lines.append(line)
        expected_rejected[len(lines)] = why
        if i % 5 == 0:
            lines.append("")          # blank lines are skipped but still numbered
        if i % 7 == 0:
            lines.append("   ")
    r = post(srv, acme, lines)
    data = reply(r)
    got = {x["line"]: x["reason"] for x in data["rejected"]}
    missing = {ln: why for ln, why in expected_rejected.items() if ln not in got}
    extra = {ln: got[ln] for ln in got if ln not in expected_rejected}
    assert not missing and not extra, f"not rejected: {missing}; wrongly rejected: {extra}"
    assert [x["line"] for x in data["rejected"]] == sorted(got), "rejected lines in line order"
    assert (data["accepted"], data["duplicates"]) == (len(good), 0)
    model["ingco"].add(good)
    d = user_rows(env, "dan")["2026-04-05"]
    assert d["send_messenger_num"] == len(good)
    assert d["docs_active_flag"] == d["cal_active_flag"] == d["vc_active_flag"] == 0
    assert d["search_active_flag"] == 0 and d["active_os"] == "" and d["email_send_count"] == "0"


def test_limits_that_are_accepted(env):
    srv, acme, _, model, _ = env
    u = acme.users["eve"]
    ok = [
        ev("im.active", u, "2026-04-06T10:00:00+08:00", event_id="y" * 128),          # 128 chars
        ev("im.message.sent", u, "2026-04-11T12:00:00+08:00", count=2),               # exactly +24h
        ev("docs.created", u, "2026-04-06T10:00:00+08:00"),                           # count defaults to 1
        ev("vc.meeting.joined", u, "2026-04-06T11:00:00+08:00", duration_seconds=0),
        ev("client.active", u, "2026-04-06T12:00:00+08:00", platform="Linux", os="debian 12",
           package="Lark", client=""),
        ev("search.performed", u, "2026-04-06T13:00:00+08:00", kind="quick", extra_field=[1, 2]),
        ev("email.received", u, "2026-04-06T14:00:00+08:00", external=False),
    ]
    data = reply(post(srv, acme, ok))
    assert (data["accepted"], data["rejected"]) == (len(ok), [])
    model["ingco"].add(ok)
    d = user_rows(env, "eve")["2026-04-06"]
    assert (d["create_docs_num"], d["vc_num"], d["vc_duration"]) == (1, 1, 0)
    assert d["active_os"] == "'debian 12,-'" and d["email_receive_in_count"] == "1"


def test_rejected_event_id_is_not_burnt(env):
    srv, acme, _, model, _ = env
    u = acme.users["fay"]
    eid = new_event_id()
    bad = ev("im.message.sent", u, "2026-04-06T10:00:00+08:00", event_id=eid, count=0)
    good = ev("im.message.sent", u, "2026-04-06T10:00:00+08:00", event_id=eid, count=4)
    data = reply(post(srv, acme, [bad, good]))
    assert (data["accepted"], data["duplicates"], [x["line"] for x in data["rejected"]]) == (1, 0, [1])
    model["ingco"].add([good])
    assert user_rows(env, "fay")["2026-04-06"]["send_messenger_num"] == 4


def test_blank_lines_only_and_empty_body(env):
    srv, acme, _, _, _ = env
    for body in (b"", b"\n", b"\n\n   \n\t\n"):
        data = reply(srv.ingest_raw(body, token=acme.ingest_token))
        assert (data["accepted"], data["duplicates"], data["rejected"]) == (0, 0, [])


def test_crlf_lines_and_chunked_bodies(env):
    srv, acme, _, model, _ = env
    import requests
    u = acme.users["guy"]
    crlf = [ev("im.message.sent", u, "2026-04-08T09:00:00+08:00", count=2) for _ in range(2)]
    body = b"\r\n".join(json.dumps(e).encode() for e in crlf) + b"\r\n\r\n"
    assert reply(srv.ingest_raw(body, token=acme.ingest_token))["accepted"] == 2
    # producers streaming with Transfer-Encoding: chunked, plain and gzip
    plain = [ev("docs.created", u, "2026-04-08T09:30:00+08:00", count=3) for _ in range(3)]
    zipped = [ev("task.created", u, "2026-04-08T09:45:00+08:00", count=4) for _ in range(3)]
    gz = gzip.compress(ndjson(zipped))
    for chunks, extra in (((json.dumps(e).encode() + b"\n" for e in plain), {}),
                          ((gz[i:i + 7] for i in range(0, len(gz), 7)), {"Content-Encoding": "gzip"})):
        r = requests.post(srv.url("/ingest/v1/events"), data=chunks, timeout=60,
                          headers={"Authorization": f"Bearer {acme.ingest_token}", **extra})
        assert r.request.headers.get("Transfer-Encoding") == "chunked"
        assert reply(r)["accepted"] == 3
    model["ingco"].add(crlf + plain + zipped)
    d = user_rows(env, "guy")["2026-04-08"]
    assert (d["send_messenger_num"], d["create_docs_num"], d["create_task_num"]) == (4, 9, 12)


def test_no_trailing_newline(env):
    srv, acme, _, model, _ = env
    e = ev("docs.active", acme.users["guy"], "2026-04-07T10:00:00+08:00")
    data = reply(srv.ingest_raw(json.dumps(e).encode(), token=acme.ingest_token))
    assert data["accepted"] == 1
    model["ingco"].add([e])
    assert user_rows(env, "guy")["2026-04-07"]["docs_active_flag"] == 1


def test_long_lines(env):
    srv, acme, _, model, _ = env
    u = acme.users["hal"]
    fits = ev("im.message.sent", u, "2026-04-07T10:00:00+08:00", count=3)
    fits["padding"] = "p" * (1_000_000 - len(json.dumps(fits)))
    too_long = ev("im.message.sent", u, "2026-04-07T10:00:00+08:00", count=100)
    too_long["padding"] = "p" * (1024 * 1024 + 10)
    after = ev("im.message.sent", u, "2026-04-07T11:00:00+08:00", count=1)
    data = reply(post(srv, acme, [fits, too_long, after]))
    assert data["accepted"] == 2 and [x["line"] for x in data["rejected"]] == [2], data
    model["ingco"].add([fits, after])
    assert user_rows(env, "hal")["2026-04-07"]["send_messenger_num"] == 4


def test_large_counts_and_durations(env):
    """events.md: count is "an integer >= 1" and vc duration_seconds ">= 0", with no upper
    bound; the email/search sums are int64 strings so they can exceed 2^32."""
    srv, acme, _, model, _ = env
    u = acme.users["jon"]
    events = [
        ev("email.received", u, "2026-04-09T10:00:00+08:00", external=True, count=5_000_000_000),
        ev("email.received", u, "2026-04-09T10:01:00+08:00", external=True, count=3),
        ev("search.performed", u, "2026-04-09T10:02:00+08:00", kind="quick", count=2_000_000),
        ev("im.message.sent", u, "2026-04-09T10:03:00+08:00", count=1_500_000),
        ev("vc.meeting.joined", u, "2026-04-09T10:04:00+08:00", duration_seconds=90_000),
    ]
    data = reply(post(srv, acme, events))
    rejected = {x["line"] for x in data["rejected"]}
    model["ingco"].add([e for i, e in enumerate(events, 1) if i not in rejected])
    assert data["rejected"] == [], data["rejected"]
    d = user_rows(env, "jon")["2026-04-09"]
    assert d["email_receive_count"] == d["email_receive_ext_count"] == "5000000003"
    assert (d["quick_search_count"], d["send_messenger_num"], d["vc_duration"]) == ("2000000", 1_500_000, 1500)


def test_large_gzip_batch(env):
    srv, acme, _, model, _ = env
    import random
    rnd = random.Random(5)
    users = [acme.users[k] for k in ("ann", "ben", "cat", "dan", "eve", "fay", "guy", "hal")]
    kinds = ["im.message.sent", "docs.created", "calendar.event.created", "task.created"]
    events = [ev(rnd.choice(kinds), rnd.choice(users),
                 f"2026-04-0{rnd.randint(1, 9)}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:"
                 f"{rnd.randint(0, 59):02d}+08:00", count=rnd.randint(1, 5)) for _ in range(20_000)]
    data = reply(srv.ingest_raw(gzip.compress(ndjson(events)), token=acme.ingest_token, gzip=True))
    assert (data["accepted"], data["duplicates"], data["rejected"]) == (20_000, 0, [])
    model["ingco"].add(events)


# -- whole-request refusals ---------------------------------------------------------------

def assert_refused(r, status, code):
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = assert_json_response(r)
    assert body["code"] == code, body
    assert isinstance(body.get("msg"), str) and body["msg"], body
    return body


@pytest.mark.parametrize("token", [None, "wrong-token-but-long-enough", "ingest-otherco"],
                         ids=["missing", "wrong", "prefix-of-other"])
def test_wrong_or_missing_ingest_token_401(env, token):
    srv, acme, other, model, _ = env
    u = acme.users["ida"]
    e = ev("im.message.sent", u, "2026-04-08T10:00:00+08:00", count=1)
    assert_refused(srv.ingest_raw(ndjson([e]), token=token), 401, 99991663)
    # nothing was accepted: the same event is new afterwards (not a duplicate)
    data = reply(post(srv, acme, [e]))
    assert (data["accepted"], data["duplicates"]) == (1, 0)
    model["ingco"].add([e])


def test_ingest_token_of_other_kind_401(env):
    srv, acme, _, _, _ = env
    # an API tenant_access_token is not an ingest token
    tok = srv.token(acme.apps["full"])
    e = ev("im.active", acme.users["ida"], "2026-04-08T10:00:00+08:00")
    assert_refused(srv.ingest_raw(ndjson([e]), token=tok), 401, 99991663)


def test_bad_gzip_400(env):
    srv, acme, _, model, _ = env
    e = ev("im.message.sent", acme.users["jon"], "2026-04-08T10:00:00+08:00", count=1)
    good = gzip.compress(ndjson([e]))
    for body in (b"this is not gzip", good[:len(good) // 2], good[:10] + b"\x00" * 8 + good[18:]):
        assert_refused(srv.ingest_raw(body, token=acme.ingest_token, gzip=True), 400, 1060001)
    data = reply(srv.ingest_raw(good, token=acme.ingest_token, gzip=True))
    assert (data["accepted"], data["duplicates"]) == (1, 0)
    model["ingco"].add([e])


def test_invalid_utf8_400(env):
    srv, acme, _, model, _ = env
    e = ev("im.message.sent", acme.users["kim"], "2026-04-08T10:00:00+08:00", count=1)
    body = ndjson([e]) + b'{"event_id":"\xff\xfe","type":"im.active"}\n'
    assert_refused(srv.ingest_raw(body, token=acme.ingest_token), 400, 1060001)
    assert_refused(srv.ingest_raw(gzip.compress(body), token=acme.ingest_token, gzip=True), 400, 1060001)
    data = reply(post(srv, acme, [e]))
    assert (data["accepted"], data["duplicates"]) == (1, 0)
    model["ingco"].add([e])


def test_body_over_64_mib_413(env):
    srv, acme, _, model, _ = env
    e = ev("im.message.sent", acme.users["lou"], "2026-04-08T10:00:00+08:00", count=1)
    filler = b"\n" * (64 * 1024 * 1024 + 1 - len(ndjson([e])))
    body = ndjson([e]) + filler
    assert len(body) == 64 * 1024 * 1024 + 1
    # compressed it is tiny: the limit applies after decompression
    assert_refused(srv.ingest_raw(gzip.compress(body), token=acme.ingest_token, gzip=True), 413, 1060002)
    assert_refused(srv.ingest_raw(body, token=acme.ingest_token), 413, 1060002)
    data = reply(post(srv, acme, [e]))
    assert (data["accepted"], data["duplicates"]) == (1, 0)
    model["ingco"].add([e])


def test_everything_accepted_matches_model(env):
    srv, acme, _, model, client = env
    served = sdk_collect(client, start_date=S, end_date=E)
    assert_rows_equal(served, model["ingco"].rows(acme.apps["full"], S, E, NOW))
