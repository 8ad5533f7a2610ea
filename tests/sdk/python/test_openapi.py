"""/openapi.json (api.md, "Beyond Lark"): the document the server serves is true of its answers.

Two ways: real answers of every endpoint (successes and each kind of error) are validated against
it, and schemathesis generates requests from it, valid and invalid, for a bounded number of
examples per operation, and checks every answer: documented status, content type, headers and
body schema, and no 5xx other than Lark's documented HTTP 500 for 1051001.
"""
from __future__ import annotations

import gzip
import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (allow_header_conformance, ignored_auth,
                                               missing_required_header, negative_data_rejection,
                                               positive_data_acceptance, unsupported_method)

from harness import FULL_SCOPES, PAIR, Server, TenantBuilder, directory_json, ev

NOW = "2026-03-10T12:00:00+08:00"
OPERATOR = "op-secret-0123456789"
# Examples per operation (schemathesis / hypothesis); SCHEMATHESIS_EXAMPLES overrides.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "100"))

USER_STATS = "/open-apis/admin/v1/admin_user_stats"
DEPT_STATS = "/open-apis/admin/v1/admin_dept_stats"
CHANGES = "/open-apis/admin/v1/admin_user_stats/days/changes"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    t = TenantBuilder("oapi", "cn")
    t.dept("D1", "Engineering")
    t.user("a", dept="D1")
    t.user("b")
    full = t.app("full", scopes=FULL_SCOPES + ["admin:admin_dept_stat:readonly"])
    srv = Server(tmp_path_factory.mktemp("openapi"), directory_json(t), NOW, admin_token=OPERATOR,
                 extra_args=["--dept-stats-rate-limit", "1000"]).start()
    srv.ingest_ok(t, [
        ev("im.message.sent", t.users["a"], "2026-03-08T10:00:00+08:00", count=3),
        ev("client.active", t.users["b"], "2026-03-09T10:00:00+08:00", platform="iOS", os="ios 17",
           package="Feishu", duration_seconds=600),
        ev("email.sent", t.users["b"], "2026-03-09T11:00:00+08:00", external=True, count=2),
    ])
    token = srv.token(full)
    schema = schemathesis.openapi.from_url(srv.url("/openapi.json"))
    yield srv, t, token, schema
    srv.close()


@pytest.fixture(scope="module")
def api_schema(env):
    return env[3]


def validate(schema, method: str, path: str, resp: requests.Response) -> None:
    schema[path][method].validate_response(resp)


def test_the_document_is_openapi_3_1_of_every_endpoint(env):
    srv, _, _, _ = env
    doc = requests.get(srv.url("/openapi.json"), timeout=10).json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {
        "/open-apis/auth/v3/tenant_access_token/internal", USER_STATS, DEPT_STATS,
        USER_STATS + "/export", USER_STATS + "/fields", USER_STATS + "/days", CHANGES,
        "/ingest/v1/events", "/admin-api/v1/directory/reload", "/healthz", "/metrics", "/openapi.json",
    }
    # The item schemas are the served fields, from the same declarations as /fields.
    served = requests.get(srv.url(USER_STATS + "/fields"), timeout=10,
                          headers={"Authorization": f"Bearer {env[2]}"}).json()["data"]["items"]
    for endpoint, schema_name in [("admin_user_stats", "UserStatItem"), ("admin_dept_stats", "DeptStatItem")]:
        want = [f["field"] for f in served if f["endpoint"] == endpoint]
        item = doc["components"]["schemas"][schema_name]
        assert sorted(item["properties"]) == sorted(want) and sorted(item["required"]) == sorted(want)


def test_real_answers_conform(env):
    srv, t, token, schema = env
    auth = {"Authorization": f"Bearer {token}"}
    get = lambda path, **params: requests.get(srv.url(path), params=params, headers=auth, timeout=70)  # noqa: E731
    rng = {"start_date": "2026-03-01", "end_date": "2026-03-09"}
    cases = [
        ("GET", USER_STATS, get(USER_STATS, **rng, page_size=1), 200),
        ("GET", USER_STATS, get(USER_STATS, **rng, page_size=0), 500),
        ("GET", USER_STATS, get(USER_STATS, start_date="2026-01-01", end_date="2026-03-01"), 500),
        ("GET", USER_STATS, requests.get(srv.url(USER_STATS), params=rng, timeout=10), 400),
        ("GET", USER_STATS, get(USER_STATS, **rng, department_id="nope"), 500),
        ("GET", DEPT_STATS, get(DEPT_STATS, **rng, department_id="0", department_id_type="department_id",
                                contains_child_dept="true", with_product_version="true"), 200),
        ("GET", DEPT_STATS, get(DEPT_STATS, **rng), 500),
        ("GET", USER_STATS + "/fields", get(USER_STATS + "/fields"), 200),
        ("GET", USER_STATS + "/days", get(USER_STATS + "/days", **rng), 200),
        ("GET", USER_STATS + "/days", get(USER_STATS + "/days", start_date="x", end_date="y"), 500),
        ("GET", CHANGES, get(CHANGES, wait_seconds=0), 200),
        ("GET", CHANGES, get(CHANGES, after="forged"), 500),
        ("GET", USER_STATS + "/export", get(USER_STATS + "/export", **rng), 200),
        ("GET", "/healthz", requests.get(srv.url("/healthz"), timeout=10), 200),
        ("GET", "/metrics", requests.get(srv.url("/metrics"), timeout=10), 401),
        ("GET", "/metrics", requests.get(srv.url("/metrics"), timeout=10,
                                         headers={"Authorization": f"Bearer {OPERATOR}"}), 200),
        ("GET", "/openapi.json", requests.get(srv.url("/openapi.json"), timeout=10), 200),
    ]
    token_path = "/open-apis/auth/v3/tenant_access_token/internal"
    app = t.apps["full"]
    cases += [
        ("POST", token_path, requests.post(srv.url(token_path), json={"app_id": app["app_id"],
                                                                      "app_secret": app["app_secret"]}, timeout=10), 200),
        ("POST", token_path, requests.post(srv.url(token_path), json={"app_id": app["app_id"],
                                                                      "app_secret": "wrong"}, timeout=10), 200),
        ("POST", token_path, requests.post(srv.url(token_path), data=b"{", timeout=10), 200),
    ]
    ingest = "/ingest/v1/events"
    bearer = {"Authorization": f"Bearer {t.ingest_token}"}
    line = b'{"event_id":"oa-1","type":"im.active","open_id":"%s","ts":"2026-03-09T10:00:00+08:00"}\nnot json\n' % (
        t.users["a"]["open_id"].encode())
    cases += [
        ("POST", ingest, requests.post(srv.url(ingest), data=line, headers=bearer, timeout=10), 200),
        ("POST", ingest, requests.post(srv.url(ingest), data=line, timeout=10), 401),
        ("POST", ingest, requests.post(srv.url(ingest), data=b"\x1f\x8bnot gzip",
                                       headers={**bearer, "Content-Encoding": "gzip"}, timeout=10), 400),
        ("POST", ingest, requests.post(srv.url(ingest), data=gzip.compress(line),
                                       headers={**bearer, "Content-Encoding": "br"}, timeout=10), 415),
        ("POST", "/admin-api/v1/directory/reload",
         requests.post(srv.url("/admin-api/v1/directory/reload"), headers={"Authorization": f"Bearer {OPERATOR}"},
                       timeout=10), 200),
        ("POST", "/admin-api/v1/directory/reload",
         requests.post(srv.url("/admin-api/v1/directory/reload"), timeout=10), 401),
    ]
    long_target = get(USER_STATS, **rng, user_id="u" * 17000)
    cases.append(("GET", USER_STATS, long_target, 414))
    for method, path, resp, status in cases:
        assert resp.status_code == status, (method, path, resp.status_code, resp.text[:300])
        validate(schema, method, path, resp)


def test_every_secured_endpoint_refuses_no_token(env):
    srv, _, _, schema = env
    for path in [USER_STATS, DEPT_STATS, USER_STATS + "/export", USER_STATS + "/fields", USER_STATS + "/days",
                 CHANGES]:
        r = requests.get(srv.url(path), timeout=10)
        assert (r.status_code, r.json()["code"]) == (400, 99991661), (path, r.text)
        validate(schema, "GET", path, r)
    for path in ["/ingest/v1/events", "/admin-api/v1/directory/reload"]:
        r = requests.post(srv.url(path), data=b"", timeout=10)
        assert (r.status_code, r.json()["code"]) == (401, 99991663), (path, r.text)
        validate(schema, "POST", path, r)


schema = schemathesis.pytest.from_fixture("api_schema")


def status_5xx_only_for_param_errors(ctx, response, case):
    """No 5xx other than Lark's documented HTTP 500 with code 1051001."""
    if response.status_code >= 500:
        try:
            code = response.json().get("code")
        except Exception:  # noqa: BLE001 - not JSON: not the envelope either
            code = None
        assert response.status_code == 500 and code == 1051001, (
            f"{response.status_code} {response.text[:200]}")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_schemathesis(case, env):
    if PAIR:
        pytest.skip("schemathesis runs against one server (the single-server suite); here the proxy would be its subject")
    srv, t, token, _ = env
    if case.path == CHANGES and isinstance(case.query, dict):
        # A long poll waits as long as it is asked to: keep generated waits short.
        w = case.query.get("wait_seconds")
        if isinstance(w, int) or (isinstance(w, str) and w.isdigit()):
            case.query["wait_seconds"] = 0
    headers = {}
    if case.path == "/ingest/v1/events":
        headers["Authorization"] = f"Bearer {t.ingest_token}"
    elif case.path in ("/metrics", "/admin-api/v1/directory/reload"):
        headers["Authorization"] = f"Bearer {OPERATOR}"
    elif case.path.startswith("/open-apis/admin"):
        headers["Authorization"] = f"Bearer {token}"
    case.call_and_validate(
        base_url=srv.base,
        headers=headers,
        timeout=30,
        # Lark answers a parameter error with HTTP 500 (1051001), so a rejected input may be a 500,
        # and inputs the schema allows may still break a rule it cannot say (a range over 31 days,
        # an unknown department): those checks are replaced by the one below. Lark answers a
        # missing token with HTTP 400 (99991661), not 401: test_every_secured_endpoint_refuses_no_token
        # checks that instead of ignored_auth / missing_required_header.
        excluded_checks=[not_a_server_error, negative_data_rejection, positive_data_acceptance,
                         unsupported_method, allow_header_conformance, ignored_auth, missing_required_header],
        additional_checks=[status_5xx_only_for_param_errors],
    )
