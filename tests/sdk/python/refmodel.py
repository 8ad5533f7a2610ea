"""Reference model of the daily numbers, written straight from events.md and
directory.md, independent of the server. It is fed the events a test had
accepted and answers what admin_user_stats must serve.
"""
from __future__ import annotations

import bisect
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

CN_TZ = timezone(timedelta(hours=8))
UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FAMILY_FLAG = {
    "im": "im_active_flag",
    "docs": "docs_active_flag",
    "calendar": "cal_active_flag",
    "vc": "vc_active_flag",
    "search": "search_active_flag",
}


def tenant_tz(geo: str) -> timezone:
    # directory.md: UTC+8 for cn, UTC+0 for every other geo
    return CN_TZ if geo == "cn" else UTC


def parse_ts(v: Any) -> datetime:
    if isinstance(v, int):
        return EPOCH + timedelta(milliseconds=v)
    return datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))


def fmt_local(dt: datetime, tz: timezone) -> str:
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


class TenantModel:
    def __init__(self, tenant: dict):
        self.tenant = tenant
        self.tz = tenant_tz(tenant["geo"])
        self.depts = {d["department_id"]: d for d in tenant.get("departments", [])}
        self.users = tenant["users"]
        self.by_id = {}
        for u in self.users:
            for k in ("open_id", "union_id", "user_id"):
                self.by_id[(k, u[k])] = u
        self.seen_ids: set[str] = set()
        # per user: local date -> events, and the sorted instants of all events
        self.by_day: dict[str, dict[date, list[dict]]] = {u["open_id"]: {} for u in self.users}
        self.instants: dict[str, list[datetime]] = {u["open_id"]: [] for u in self.users}

    # -- events -------------------------------------------------------------
    def add(self, events: list[dict]) -> None:
        """Events the server accepted (duplicates are ignored here, as there)."""
        for e in events:
            if e["event_id"] in self.seen_ids:
                continue
            self.seen_ids.add(e["event_id"])
            keys = [k for k in ("open_id", "union_id", "user_id") if k in e]
            assert len(keys) == 1, e
            u = self.by_id[(keys[0], e[keys[0]])]
            at = parse_ts(e["ts"])
            self.by_day[u["open_id"]].setdefault(self.local_date(at), []).append(dict(e, _at=at))
            bisect.insort(self.instants[u["open_id"]], at)

    # -- directory ------------------------------------------------------------
    def local_date(self, dt: datetime) -> date:
        return dt.astimezone(self.tz).date()

    def dept_chain(self, did: str) -> list[dict]:
        chain = []
        while did != "0":
            d = self.depts[did]
            chain.append(d)
            did = d["parent_department_id"]
        return list(reversed(chain))

    def in_subtree(self, did: str, root: str) -> bool:
        if root == "0":
            return True
        while did != "0":
            if did == root:
                return True
            did = self.depts[did]["parent_department_id"]
        return False

    def in_scope(self, user: dict, data_scope: list[str]) -> bool:
        return any(self.in_subtree(user["department_id"], s) for s in data_scope or [])

    def has_row(self, user: dict, d: date) -> bool:
        if self.local_date(parse_ts(user["create_time"])) > d:
            return False
        if user["leave_time"] is not None and self.local_date(parse_ts(user["leave_time"])) < d:
            return False
        return True

    def published(self, d: date, now: str) -> bool:
        cutoff = datetime.combine(d + timedelta(days=1), time(9, 30), tzinfo=self.tz)
        return parse_ts(now) >= cutoff

    # -- rows -------------------------------------------------------------------
    def row(self, user: dict, d: date, user_id_type: str = "open_id") -> dict:
        tz = self.tz
        day_start = datetime.combine(d, time(0), tzinfo=tz)
        day_end = day_start + timedelta(days=1)
        evs = self.by_day[user["open_id"]].get(d, [])
        instants = self.instants[user["open_id"]]
        i = bisect.bisect_left(instants, day_end)      # events strictly before the day's end
        last = instants[i - 1] if i else None

        chain = self.dept_chain(user["department_id"])
        reg = user["register_time"]
        r: dict[str, Any] = {
            "date": d.isoformat(),
            "user_id": user[user_id_type],
            "user_name": user["name"],
            "department_name": chain[-1]["name"] if chain else "",
            "department_path": "/".join(x["name"] for x in chain),
            "create_time": fmt_local(parse_ts(user["create_time"]), tz),
            "register_time": fmt_local(parse_ts(reg), tz) if reg else "",
            "last_active_time": fmt_local(last, tz) if last else "",
            "user_active_flag": int(reg is not None and parse_ts(reg) < day_end),
            "suite_active_flag": int(bool(evs)),
        }
        for flag in FAMILY_FLAG.values():
            r[flag] = 0
        nums = dict(send_messenger_num=0, create_docs_num=0, create_cal_num=0, create_task_num=0,
                    vc_num=0)
        i64 = {k: 0 for k in ("email_send_count", "email_receive_count", "email_send_ext_count",
                              "email_receive_ext_count", "email_send_in_count",
                              "email_receive_in_count", "total_search_count",
                              "quick_search_count", "tab_search_count")}
        vc_seconds = 0
        os_pairs, platforms, packages = set(), set(), set()
        for e in evs:
            t = e["type"]
            fam = t.split(".")[0]
            if fam in FAMILY_FLAG:
                r[FAMILY_FLAG[fam]] = 1
            n = e.get("count", 1)
            if t == "client.active":
                client = e.get("client") or "-"
                os_pairs.add(f"'{e['os']},{client}'")
                platforms.add(e["platform"])
                packages.add(e["package"])
            elif t == "im.message.sent":
                nums["send_messenger_num"] += n
            elif t == "docs.created":
                nums["create_docs_num"] += n
            elif t == "calendar.event.created":
                nums["create_cal_num"] += n
            elif t == "vc.meeting.joined":
                nums["vc_num"] += 1
                vc_seconds += e["duration_seconds"]
            elif t == "task.created":
                nums["create_task_num"] += n
            elif t == "email.sent":
                i64["email_send_count"] += n
                i64["email_send_ext_count" if e["external"] else "email_send_in_count"] += n
            elif t == "email.received":
                i64["email_receive_count"] += n
                i64["email_receive_ext_count" if e["external"] else "email_receive_in_count"] += n
            elif t == "search.performed":
                i64["total_search_count"] += n
                i64["quick_search_count" if e["kind"] == "quick" else "tab_search_count"] += n
        r.update(nums)
        r["vc_duration"] = vc_seconds // 60
        r["active_os"] = ",".join(sorted(os_pairs))
        r["os_name"] = ",".join(sorted(platforms))
        r["app_package_type"] = ",".join(sorted(packages))
        r.update({k: str(v) for k, v in i64.items()})
        return r

    def rows(self, app: dict, start: str, end: str, now: str, *, department: str | None = None,
             user: dict | None = None, user_id_type: str = "open_id") -> list[dict]:
        """What a query must return, all pages: `department` is a department_id
        (internal), `user` a user dict of this tenant."""
        out = []
        d, last = date.fromisoformat(start), date.fromisoformat(end)
        users = sorted(self.users, key=lambda u: u["open_id"])
        while d <= last:
            if self.published(d, now):
                for u in users:
                    if not self.in_scope(u, app["data_scope"]):
                        continue
                    if department is not None and not self.in_subtree(u["department_id"], department):
                        continue
                    if user is not None and u["open_id"] != user["open_id"]:
                        continue
                    if self.has_row(u, d):
                        out.append(self.row(u, d, user_id_type))
            d += timedelta(days=1)
        return out


class Model:
    def __init__(self, directory: dict):
        self.tenants = {t["tenant_key"]: TenantModel(t) for t in directory["tenants"]}

    def __getitem__(self, key: str) -> TenantModel:
        return self.tenants[key]
