"""The standard small organisation most modules use: a cn tenant `acme` and an
sg tenant `sgco` in one directory file."""
from __future__ import annotations

from harness import SCOPE_EMPLOYEE_ID, SCOPE_USER_STAT, TenantBuilder

# --now for the standard modules: cn publishes through 03-09 (03-10 09:30 +08
# has passed), sg (UTC) only through 03-08 (it is 04:00Z on 03-10).
NOW = "2026-03-10T12:00:00+08:00"
START, END = "2026-03-01", "2026-03-10"


def standard_org() -> tuple[TenantBuilder, TenantBuilder]:
    acme = TenantBuilder("acme", "cn", cross_geo=["sg"])
    acme.dept("D10", "Engineering")
    acme.dept("D11", "Platform", "D10")
    acme.dept("D12", "Infra", "D11")
    acme.dept("D20", "Sales")
    acme.dept("D21", "Sales APAC", "D20")
    acme.dept("D30", "研发中心")
    acme.dept("D31", "平台组 / Core", "D30")

    # user_ids deliberately sort in another order than open_ids
    acme.user("alice", "Alice Wang", "D11", user_id="e9001")
    acme.user("bob", "Bob Li", "D12", user_id="e9002")
    acme.user("carol", "Carol Zhao", "D20", user_id="e9003",
              create="2026-02-20T10:00:00+08:00",
              register="2026-03-03T16:00:00Z")           # = 03-04 00:00:00 local
    acme.user("dave", "Dave Root", "0", user_id="e9004")
    acme.user("erin", "Erin Sun", "D21", user_id="e9005",
              create="2026-03-05T10:00:00+08:00", register="2026-03-05T10:05:00+08:00")
    acme.user("frank", "Frank Qian", "D10", user_id="e9006",
              leave="2026-03-06T18:00:00+08:00")
    acme.user("gina", "Gina Zhou", "D12", user_id="e9007",
              create="2026-03-04T20:00:00Z",                # = 03-05 04:00 local
              register=None)
    acme.user("hank", "Hank Wu", "D21", user_id="e9008",
              leave="2026-03-06T16:30:00Z")                 # = 03-07 00:30 local
    acme.user("ivan", "Ivan Zheng", "D11", user_id="e9009", register=None)
    acme.user("judy", "Judy Feng", "D20", user_id="e9010")
    acme.user("kate", "Kate Chen", "D10", user_id="e9011",
              create="2026-03-01T08:00:00+08:00",
              register="2026-03-03T23:59:59+08:00")
    acme.user("leo", "Leo Xu", "D21", user_id="e9012")
    acme.user("olga", "Olga Ma", "D20", user_id="e9013",
              leave="2026-02-15T12:00:00+08:00")            # left before the range
    acme.user("pete", "Pete Hu", "D11", user_id="e9014",
              create="2026-03-20T12:00:00+08:00")           # created after the range
    acme.user("zoe", "Zoe Lin", "D12", user_id="e9015")
    # created exactly at a local midnight (given in UTC); leaving exactly at one
    acme.user("nina", "Nina Guo", "D10", user_id="e9016", create="2026-03-04T16:00:00Z")
    acme.user("owen", "Owen He", "D20", user_id="e9017", leave="2026-03-05T16:00:00Z")
    # an employee id with characters that need URL encoding, non-ASCII names
    acme.user("zhang", "张三", "D31", user_id="emp/007 #ü&x=1")

    acme.app("full", scopes=[SCOPE_USER_STAT, SCOPE_EMPLOYEE_ID], data_scope=["0"])
    acme.app("plat", scopes=[SCOPE_USER_STAT, SCOPE_EMPLOYEE_ID], data_scope=["D11"])
    acme.app("multi", scopes=[SCOPE_USER_STAT, SCOPE_EMPLOYEE_ID], data_scope=["D12", "D21"])
    acme.app("noemp", scopes=[SCOPE_USER_STAT], data_scope=["0"])
    acme.app("noadmin", scopes=[SCOPE_EMPLOYEE_ID], data_scope=["0"])
    acme.app("store", app_type="store", scopes=[SCOPE_USER_STAT, SCOPE_EMPLOYEE_ID], data_scope=["0"])

    sgco = TenantBuilder("sgco", "sg")
    sgco.dept("S1", "Ops")
    sgco.user("sam", "Sam Tan", "S1", user_id="s001",
              create="2025-11-01T08:00:00+08:00", register="2025-11-01T09:00:00+08:00")
    sgco.user("sue", "Sue Lim", "0", user_id="s002",
              create="2026-03-02T22:30:00-01:00",           # = 03-02 23:30 UTC
              register="2026-03-03T07:59:59+08:00")         # = 03-02 23:59:59 UTC
    sgco.user("sid", "Sid Ng", "S1", user_id="s003")
    sgco.app("full", data_scope=["0"])
    return acme, sgco
