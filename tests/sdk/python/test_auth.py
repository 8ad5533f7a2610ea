"""Token endpoint, gateway errors, scopes, app types and the common wire
rules (Content-Type, X-Tt-Logid, error envelope, 404)."""
from __future__ import annotations

import json

import pytest
import requests
from lark_oapi.core.exception import ObtainAccessTokenException
from lark_oapi.core.model import RequestOption

import lark_oapi as lark
from harness import (JSON_CT, LOGID_RE, SCOPE_EMPLOYEE_ID, SCOPE_USER_STAT, TOKEN_PATH,
                     USER_STATS_PATH, Server, assert_json_response, assert_raw_error,
                     assert_sdk_error, assert_sdk_ok, check_log_id, directory_json, sdk_client,
                     sdk_list, wait_for, HTTP_TIMEOUT)
from lark_oapi.core.cache import LocalCache
from std_org import NOW, standard_org

Q = {"start_date": "2026-03-01", "end_date": "2026-03-02"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    acme, sgco = standard_org()
    srv = Server(tmp_path_factory.mktemp("auth"), directory_json(acme, sgco), NOW).start()
    yield srv, acme, sgco
    srv.close()


def post_token(srv, body: bytes | str, headers=None) -> requests.Response:
    return requests.post(srv.url(TOKEN_PATH), data=body, headers=headers or {}, timeout=HTTP_TIMEOUT)


# -- token endpoint ---------------------------------------------------------

def test_token_success_without_content_type(env):
    srv, acme, _ = env
    app = acme.apps["full"]
    r = post_token(srv, json.dumps({"app_id": app["app_id"], "app_secret": app["app_secret"]}))
    assert r.request.headers.get("Content-Type") is None
    assert r.status_code == 200
    body = assert_json_response(r)
    assert body["code"] == 0 and body["msg"] == "ok", body
    tok = body["tenant_access_token"]
    assert isinstance(tok, str) and tok.startswith("t-") and len(tok) >= 2 + 22, tok
    assert type(body["expire"]) is int and 7000 < body["expire"] <= 7200, body


def test_token_with_json_content_type(env):
    srv, acme, _ = env
    app = acme.apps["plat"]
    r = requests.post(srv.url(TOKEN_PATH), json={"app_id": app["app_id"], "app_secret": app["app_secret"]},
                      timeout=HTTP_TIMEOUT)
    body = assert_json_response(r)
    assert r.status_code == 200 and body["code"] == 0, body


def test_token_reused_while_fresh(env):
    srv, acme, _ = env
    app = acme.apps["multi"]
    creds = json.dumps({"app_id": app["app_id"], "app_secret": app["app_secret"]})
    b1 = post_token(srv, creds).json()
    b2 = post_token(srv, creds).json()
    assert b1["code"] == 0 and b2["code"] == 0
    assert b2["tenant_access_token"] == b1["tenant_access_token"]
    assert b2["expire"] <= b1["expire"] <= 7200
    assert b2["expire"] > 7200 - 60
    # another app gets another token
    other = acme.apps["full"]
    b3 = post_token(srv, json.dumps({"app_id": other["app_id"], "app_secret": other["app_secret"]})).json()
    assert b3["tenant_access_token"] != b1["tenant_access_token"]


@pytest.mark.parametrize("case", ["not-json", "json-array", "missing-secret", "missing-app-id",
                                  "unknown-app", "empty-body"])
def test_token_invalid_param_10003(env, case):
    srv, acme, _ = env
    app = acme.apps["full"]
    body = {
        "not-json": "app_id=x&app_secret=y",
        "json-array": "[]",
        "missing-secret": json.dumps({"app_id": app["app_id"]}),
        "missing-app-id": json.dumps({"app_secret": app["app_secret"]}),
        "unknown-app": json.dumps({"app_id": "cli_doesnotexist", "app_secret": app["app_secret"]}),
        "empty-body": "",
    }[case]
    r = post_token(srv, body)
    got = assert_raw_error(r, 200, 10003, "invalid param")
    assert "tenant_access_token" not in got


def test_token_wrong_secret_10014(env):
    srv, acme, _ = env
    app = acme.apps["full"]
    r = post_token(srv, json.dumps({"app_id": app["app_id"], "app_secret": app["app_secret"] + "x"}))
    got = assert_raw_error(r, 200, 10014, "app secret invalid")
    assert "tenant_access_token" not in got


def test_sdk_wrong_secret_raises(env):
    srv, acme, _ = env
    app = dict(acme.apps["full"], app_secret="definitely-wrong")
    client = sdk_client(srv, app)
    with pytest.raises(ObtainAccessTokenException) as ei:
        sdk_list(client, **Q)
    assert ei.value.code == 10014


def test_secrets_never_logged(env):
    srv, acme, sgco = env
    # exercise the token endpoint with right and wrong secrets first
    for app in list(acme.apps.values()) + list(sgco.apps.values()):
        srv.token(app)
        post_token(srv, json.dumps({"app_id": app["app_id"], "app_secret": app["app_secret"] + "zz"}))
    srv.ingest(acme, [])
    log = srv.log_text()
    for app in list(acme.apps.values()) + list(sgco.apps.values()):
        assert app["app_secret"] not in log
    assert acme.ingest_token not in log


# -- gateway errors ---------------------------------------------------------

def test_sdk_success_envelope_and_log_id(env):
    srv, acme, _ = env
    resp = sdk_list(sdk_client(srv, acme.apps["full"]), **Q)
    assert_sdk_ok(resp)
    body = json.loads(resp.raw.content)
    assert set(body) >= {"code", "msg", "data"} and "error" not in body
    # the log id is written in the server's log line for the request
    log_id = resp.get_log_id()
    assert wait_for(lambda: log_id in srv.log_text()), f"log id {log_id} not in server log"


def test_log_ids_are_unique(env):
    srv, acme, _ = env
    client = sdk_client(srv, acme.apps["full"])
    ids = {check_log_id(sdk_list(client, **Q)) for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}],
                         ids=["no-header", "basic-auth"])
def test_missing_token_99991661(env, headers):
    srv, _, _ = env
    r = requests.get(srv.url(USER_STATS_PATH), params=Q, headers=headers, timeout=HTTP_TIMEOUT)
    assert_raw_error(r, 400, 99991661, "Missing access token for authorization.")


@pytest.mark.parametrize("token", ["t-00000000000000000000000000000000", "garbage", "t-"])
def test_invalid_token_99991663(env, token):
    srv, _, _ = env
    r = srv.get_stats(token, Q)
    assert_raw_error(r, 400, 99991663, "Invalid access token for authorization.")


def test_sdk_invalid_token_99991663(env):
    srv, acme, _ = env
    client = (lark.Client.builder().app_id(acme.apps["full"]["app_id"])
              .app_secret(acme.apps["full"]["app_secret"]).domain(srv.base)
              .enable_set_token(True).cache(LocalCache()).log_level(lark.LogLevel.ERROR).build())
    opt = RequestOption.builder().tenant_access_token("t-forged0123456789abcdef0123456789").build()
    resp = sdk_list(client, option=opt, **Q)
    assert_sdk_error(resp, 400, 99991663)
    assert resp.msg.startswith("Invalid access token for authorization.")


def _scope_error(resp, scope):
    assert_sdk_error(resp, 400, 99991672)
    assert resp.msg.startswith("Access denied. One of the following scopes is required: [")
    assert scope in resp.msg
    body = json.loads(resp.raw.content)
    pv = body["error"]["permission_violations"]
    assert {"type": "action_scope_required", "subject": scope} in [
        {"type": v.get("type"), "subject": v.get("subject")} for v in pv], pv
    # what the SDK user sees (lark-oapi keeps `error` as the parsed JSON object)
    err = resp.error if isinstance(resp.error, dict) else vars(resp.error)
    assert scope in [v["subject"] if isinstance(v, dict) else v.subject
                     for v in err.get("permission_violations") or []]


def test_app_without_user_stat_scope_99991672(env):
    srv, acme, _ = env
    resp = sdk_list(sdk_client(srv, acme.apps["noadmin"]), **Q)
    _scope_error(resp, SCOPE_USER_STAT)


def test_user_id_type_user_id_needs_employee_id_scope(env):
    srv, acme, _ = env
    client = sdk_client(srv, acme.apps["noemp"])
    _scope_error(sdk_list(client, user_id_type="user_id", **Q), SCOPE_EMPLOYEE_ID)
    # the other id types do not need it
    assert_sdk_ok(sdk_list(client, user_id_type="open_id", **Q))
    assert_sdk_ok(sdk_list(client, user_id_type="union_id", **Q))


def test_store_app_1051002(env):
    srv, acme, _ = env
    resp = sdk_list(sdk_client(srv, acme.apps["store"]), **Q)
    assert_sdk_error(resp, 400, 1051002)


# -- common wire rules ------------------------------------------------------

@pytest.mark.parametrize("method,path", [("GET", "/nope"), ("GET", "/open-apis/admin/v1/unknown"),
                                         ("POST", "/open-apis/nothing/here")])
def test_unknown_path_404_json(env, method, path):
    srv, _, _ = env
    r = requests.request(method, srv.url(path), timeout=HTTP_TIMEOUT)
    assert r.status_code == 404
    body = assert_json_response(r)
    assert body["code"] == 404, body
    assert isinstance(body["msg"], str) and body["msg"]


def test_errors_are_json_with_log_id(env):
    srv, acme, _ = env
    tok = srv.token(acme.apps["full"])
    r = srv.get_stats(tok, {"start_date": "2026-02-30", "end_date": "2026-03-01"})
    body = assert_raw_error(r, 500, 1051001)
    assert "data" not in body or body["data"] in (None, {})


def test_get_with_json_body_is_ignored(env):
    srv, acme, _ = env
    tok = srv.token(acme.apps["full"])
    plain = srv.get_stats(tok, Q)
    with_body = srv.get_stats(tok, Q, headers={"Content-Type": "application/json"}, data=b"{}")
    assert plain.status_code == with_body.status_code == 200, with_body.text
    assert plain.json()["data"] == with_body.json()["data"]


def test_log_id_header_case_and_format(env):
    srv, acme, _ = env
    tok = srv.token(acme.apps["full"])
    r = srv.get_stats(tok, Q)
    # the Python SDK reads the header case-sensitively from a plain dict
    names = list(dict(r.headers).keys())
    assert "X-Tt-Logid" in names, names
    assert LOGID_RE.match(r.headers["X-Tt-Logid"])
    assert r.headers["Content-Type"] == JSON_CT
