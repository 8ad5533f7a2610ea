//! `GET /openapi.json`: an OpenAPI 3.1 document of every endpoint, Lark's and ours.
//!
//! Written here by hand for the paths, parameters and envelopes, and generated for the items:
//! the schemas of `admin_user_stats` and `admin_dept_stats` items come from the same field
//! declarations the server serialises with (`adminstats_wire::fields`), so they cannot drift.
//! `tests/sdk/python/test_openapi.py` validates real answers against it and runs schemathesis.

use std::sync::LazyLock;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use adminstats_wire::fields::{FieldDef, JsonType};
use adminstats_wire::vocab::{
    DAYS_MAX_DAYS, DAY_CHANGES_MAX_WAIT, DEPT_STATS_MAX_PAGE_SIZE, GEOS, USER_STATS_MAX_PAGE_SIZE,
};
use adminstats_wire::{
    DeptStatItem, UserStatItem, DAYS_PATH, DAY_CHANGES_PATH, DEPT_STATS_PATH, FIELDS_PATH, INGEST_PATH,
    TOKEN_PATH, USER_STATS_EXPORT_PATH, USER_STATS_PATH,
};

static DOCUMENT: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec_pretty(&document()).expect("a JSON value serialises"));

/// The handler: open to anyone, like the API's own documentation.
pub async fn serve() -> Response {
    let mut resp = (StatusCode::OK, DOCUMENT.as_slice()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::logid::JSON_CONTENT_TYPE));
    resp
}

/// The schema of one statistics item, from its field declarations.
fn item_schema(defs: &[FieldDef]) -> Value {
    let properties: serde_json::Map<String, Value> = defs
        .iter()
        .map(|d| {
            let mut s = match d.json_type {
                JsonType::String => json!({"type": "string"}),
                JsonType::Number => json!({"type": "integer"}),
                JsonType::Int64 => json!({"type": "string", "pattern": "^-?[0-9]+$"}),
            };
            s["description"] = json!(d.description_en);
            (d.field.to_owned(), s)
        })
        .collect();
    let required: Vec<&str> = defs.iter().map(|d| d.field).collect();
    json!({"type": "object", "required": required, "properties": properties})
}

/// A success envelope around `data`.
fn ok(data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["code", "msg", "data"],
        "properties": {"code": {"const": 0}, "msg": {"type": "string"}, "data": data},
    })
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// An error answer in the envelope.
fn error(description: &str) -> Value {
    json!({"description": description, "content": json_content(schema_ref("Error"))})
}

/// The quota headers of a rate-limited endpoint's answers.
fn quota_headers() -> Value {
    let int =
        |d: &str| json!({"required": true, "schema": {"type": "integer", "minimum": 0}, "description": d});
    json!({
        "x-ogw-ratelimit-limit": int("Requests allowed per second to this endpoint, per app."),
        "x-ogw-ratelimit-remaining": int("Requests left in the current window."),
        "x-ogw-ratelimit-reset": int("Whole seconds until the window frees a request (0 when some are left)."),
    })
}

/// The answers every open-API GET may give besides its success.
fn api_errors(rate_limited: bool) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(
        "400".into(),
        error("99991661 no token; 99991663 unknown or expired token; 99991672 a scope is missing; 1051002 outside the data scope; 1051003 department outside the data scope"),
    );
    m.insert("414".into(), error("414: the request target is over 16 KiB"));
    m.insert("431".into(), error("431: the headers are over 64 KiB"));
    m.insert(
        "500".into(),
        error("1051001: a parameter breaks a rule, or an unknown department, user or page token (HTTP 500, as Lark answers it)"),
    );
    m.insert("502".into(), error("1080001: the peer serving target_geo cannot be reached"));
    if rate_limited {
        let mut limited =
            error("99991400: over the app's rate limit; retry after x-ogw-ratelimit-reset seconds");
        limited["headers"] = json!({
            "x-ogw-ratelimit-limit": {"required": true, "schema": {"type": "integer"}},
            "x-ogw-ratelimit-reset": {"required": true, "schema": {"type": "integer", "minimum": 1}},
        });
        m.insert("429".into(), limited);
    }
    m
}

/// A GET of the open API: its parameters, its success and its errors.
fn open_get(summary: &str, params: &[&str], data: Value, rate_limited: bool) -> Value {
    let mut responses = api_errors(rate_limited);
    let mut success = json!({"description": "success", "content": json_content(ok(data))});
    if rate_limited {
        success["headers"] = quota_headers();
    }
    responses.insert("200".into(), success);
    let parameters: Vec<Value> =
        params.iter().map(|p| json!({"$ref": format!("#/components/parameters/{p}")})).collect();
    json!({
        "get": {
            "summary": summary,
            "security": [{"tenantAccessToken": []}],
            "parameters": parameters,
            "responses": responses,
        }
    })
}

fn query_param(name: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": required, "schema": schema, "description": description})
}

/// The whole document.
pub fn document() -> Value {
    let date = json!({"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"});
    let page_token = json!({"type": "string"});
    let parameters = json!({
        "start_date": query_param("start_date", true, date.clone(), "The first date, YYYY-MM-DD."),
        "end_date": query_param("end_date", true, date.clone(), "The last date, inclusive, YYYY-MM-DD."),
        "user_id_type": query_param("user_id_type", false, json!({"enum": ["open_id", "union_id", "user_id"]}),
            "Which id the user_id field holds (user_id needs contact:user.employee_id:readonly)."),
        "department_id_type": query_param("department_id_type", false,
            json!({"enum": ["department_id", "open_department_id"]}), "How department_id is read."),
        "department_id": query_param("department_id", false, json!({"type": "string"}),
            "Only the users of this department's subtree (\"0\": the whole tenant)."),
        "dept_department_id": query_param("department_id", true, json!({"type": "string"}),
            "The department."),
        "dept_department_id_type": query_param("department_id_type", true,
            json!({"enum": ["department_id", "open_department_id"]}), "How department_id is read."),
        "user_id": query_param("user_id", false, json!({"type": "string"}), "Only this user (of user_id_type)."),
        "user_page_size": query_param("page_size", false,
            json!({"type": "integer", "minimum": 1, "maximum": USER_STATS_MAX_PAGE_SIZE, "default": 10}), "Items per page."),
        "dept_page_size": query_param("page_size", false,
            json!({"type": "integer", "minimum": 1, "maximum": DEPT_STATS_MAX_PAGE_SIZE, "default": 10}), "Items per page."),
        "page_token": query_param("page_token", false, page_token, "The previous page's page_token."),
        "target_geo": query_param("target_geo", false, json!({"enum": GEOS}),
            "Another geo's data (the tenant must have opened it)."),
        "contains_child_dept": query_param("contains_child_dept", true, json!({"type": "boolean"}),
            "Whether the department's sub-departments count too."),
        "with_product_version": query_param("with_product_version", false, json!({"type": "boolean"}),
            "Also one item per product version."),
        "days_start_date": query_param("start_date", true, date.clone(),
            &format!("The first date (any range of at most {DAYS_MAX_DAYS} days).")),
        "after": query_param("after", false, json!({"type": "string"}),
            "A cursor from a previous answer; none: from now."),
        "wait_seconds": query_param("wait_seconds", false,
            json!({"type": "integer", "minimum": 0, "maximum": DAY_CHANGES_MAX_WAIT, "default": 0}),
            "How long to wait for a change."),
    });
    let paging = |item: &str| {
        json!({
            "type": "object",
            "required": ["has_more", "items"],
            "properties": {
                "has_more": {"type": "boolean"},
                "page_token": {"type": "string"},
                "items": {"type": "array", "items": schema_ref(item)},
            },
        })
    };
    let schemas = json!({
        "Error": {
            "type": "object",
            "required": ["code", "msg"],
            "properties": {
                "code": {"type": "integer", "not": {"const": 0}},
                "msg": {"type": "string", "minLength": 1},
                "error": {
                    "type": "object",
                    "required": ["log_id"],
                    "properties": {
                        "log_id": {"type": "string"},
                        "permission_violations": {"type": "array", "items": {
                            "type": "object",
                            "required": ["type", "subject"],
                            "properties": {"type": {"type": "string"}, "subject": {"type": "string"}},
                        }},
                    },
                },
            },
        },
        "UserStatItem": item_schema(&UserStatItem::DEFINITIONS),
        "DeptStatItem": item_schema(&DeptStatItem::DEFINITIONS),
        "UserStatsPage": paging("UserStatItem"),
        "DeptStatsPage": paging("DeptStatItem"),
        "TokenResponse": {
            "type": "object",
            "required": ["code", "msg"],
            "properties": {
                "code": {"type": "integer"},
                "msg": {"type": "string"},
                "tenant_access_token": {"type": "string"},
                "expire": {"type": "integer", "minimum": 0},
            },
        },
        "FieldsPage": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
            "type": "object",
            "required": ["endpoint", "field", "json_type", "kind", "unit", "description_en", "description_zh", "moved_by"],
            "properties": {
                "endpoint": {"enum": ["admin_user_stats", "admin_dept_stats"]},
                "field": {"type": "string"},
                "json_type": {"enum": ["string", "number", "int64_string"]},
                "kind": {"enum": ["date", "id", "name", "time", "flag", "count", "minutes", "list", "rate"]},
                "unit": {"type": "string"},
                "description_en": {"type": "string"},
                "description_zh": {"type": "string"},
                "moved_by": {"type": "array", "items": {"type": "string"}},
            },
        }}}},
        "DaysPage": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
            "type": "object",
            "required": ["date", "published", "published_at", "revision", "changed_at"],
            "properties": {
                "date": date.clone(),
                "published": {"type": "boolean"},
                "published_at": {"type": "string"},
                "revision": {"type": "integer", "minimum": 0},
                "changed_at": {"type": "string"},
            },
        }}}},
        "DayChangesPage": {"type": "object", "required": ["items", "cursor"], "properties": {
            "cursor": {"type": "string", "minLength": 1},
            "items": {"type": "array", "items": {
                "type": "object",
                "required": ["date", "revision", "published_at", "changed_at"],
                "properties": {
                    "date": date.clone(),
                    "revision": {"type": "integer", "minimum": 0},
                    "published_at": {"type": "string"},
                    "changed_at": {"type": "string"},
                },
            }},
        }},
        "IngestReply": {
            "type": "object",
            "required": ["accepted", "duplicates", "rejected", "rejected_total", "rejected_by_reason"],
            "properties": {
                "accepted": {"type": "integer", "minimum": 0},
                "duplicates": {"type": "integer", "minimum": 0},
                "rejected": {"type": "array", "items": {
                    "type": "object",
                    "required": ["line", "reason"],
                    "properties": {"line": {"type": "integer", "minimum": 1}, "reason": {"type": "string"}},
                }},
                "rejected_total": {"type": "integer", "minimum": 0},
                "rejected_by_reason": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
            },
        },
    });

    let user_params = [
        "start_date",
        "end_date",
        "user_id_type",
        "department_id_type",
        "department_id",
        "user_id",
        "user_page_size",
        "page_token",
        "target_geo",
    ];
    let dept_params = [
        "dept_department_id_type",
        "dept_department_id",
        "contains_child_dept",
        "start_date",
        "end_date",
        "dept_page_size",
        "page_token",
        "target_geo",
        "with_product_version",
    ];
    let export_params = [
        "start_date",
        "end_date",
        "user_id_type",
        "department_id_type",
        "department_id",
        "user_id",
        "target_geo",
    ];

    let mut export = open_get(
        "adminstats only: every row of a query over any range of published days, as NDJSON",
        &export_params,
        json!({}),
        true,
    );
    export["get"]["responses"]["200"] = json!({
        "description": "One item per line exactly as in the listing, ordered by date then open_id, ending with {\"done\":true,\"rows\":N}; a stream without that line was cut short.",
        "headers": quota_headers(),
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    });
    export["get"]["responses"]["429"]["description"] =
        json!("99991400: over the rate limit, or too many exports streaming (per app or in all)");

    let mut fields = open_get(
        "adminstats only: the definition of every item field of both statistics endpoints",
        &[],
        schema_ref("FieldsPage"),
        false,
    );
    let mut fields_errors = serde_json::Map::new();
    for code in ["200", "400", "414", "431"] {
        fields_errors.insert(code.into(), fields["get"]["responses"][code].clone());
    }
    fields["get"]["responses"] = Value::Object(fields_errors);

    let mut paths = serde_json::Map::new();
    paths.insert(TOKEN_PATH.into(), json!({"post": {
        "summary": "A tenant access token for a custom app (2 hours)",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["app_id", "app_secret"],
            "properties": {"app_id": {"type": "string"}, "app_secret": {"type": "string"}},
        }}}},
        "responses": {
            "200": {"description": "code 0 with the token; 10003 a bad request or unknown app; 10014 a wrong secret (as Lark, all HTTP 200)",
                    "content": json_content(schema_ref("TokenResponse"))},
            "408": error("1090003: the body did not arrive in time"),
            "414": error("414: the request target is over 16 KiB"),
            "431": error("431: the headers are over 64 KiB"),
        },
    }}));
    paths.insert(
        USER_STATS_PATH.into(),
        open_get(
            "One row per user per published day (Lark's API)",
            &user_params,
            schema_ref("UserStatsPage"),
            true,
        ),
    );
    paths.insert(
        DEPT_STATS_PATH.into(),
        open_get(
            "One item per published day (and product version) for a department (Lark's API)",
            &dept_params,
            schema_ref("DeptStatsPage"),
            true,
        ),
    );
    paths.insert(USER_STATS_EXPORT_PATH.into(), export);
    paths.insert(FIELDS_PATH.into(), fields);
    paths.insert(
        DAYS_PATH.into(),
        open_get(
            "adminstats only: per date, whether it is published, when, and its revision",
            &["days_start_date", "end_date", "target_geo"],
            schema_ref("DaysPage"),
            true,
        ),
    );
    paths.insert(
        DAY_CHANGES_PATH.into(),
        open_get(
            "adminstats only: long polling for days newly published or restated",
            &["after", "wait_seconds", "target_geo"],
            schema_ref("DayChangesPage"),
            true,
        ),
    );
    paths.insert(INGEST_PATH.into(), json!({"post": {
        "summary": "Activity events, one JSON object per line (events.md); gzip allowed",
        "security": [{"ingestToken": []}],
        "requestBody": {"required": true, "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        }},
        "responses": {
            "200": {"description": "What was accepted (durable), duplicated and rejected, line by line",
                    "content": json_content(ok(schema_ref("IngestReply")))},
            "400": error("1060001: the body is not valid gzip or not UTF-8 (nothing accepted)"),
            "401": error("99991663: a missing or wrong ingest token (nothing accepted)"),
            "408": error("1090003: the body did not arrive in time"),
            "413": error("1060002: the body is over the server's limit after decompression"),
            "414": error("414: the request target is over 16 KiB"),
            "415": error("1060003: a Content-Encoding other than gzip or identity"),
            "431": error("431: the headers are over 64 KiB"),
            "503": error("1090001: the store cannot write now; nothing was kept; retry after Retry-After"),
        },
    }}));
    paths.insert("/admin-api/v1/directory/reload".into(), json!({"post": {
        "summary": "Operator: read the organisation file again (404 without --admin-token)",
        "security": [{"operatorToken": []}],
        "responses": {
            "200": {"description": "the new directory in force", "content": json_content(ok(json!({
                "type": "object", "required": ["directory"], "properties": {"directory": {"type": "string"}},
            })))},
            "400": error("1070001: the file is invalid; the old directory stays"),
            "401": error("99991663: not the operator token"),
            "404": error("404: the server has no operator token"),
            "414": error("414: the request target is over 16 KiB"),
            "431": error("431: the headers are over 64 KiB"),
        },
    }}));
    paths.insert(
        "/healthz".into(),
        json!({"get": {
            "summary": "Whether the server can serve and the store can write",
            "responses": {
                "200": {"description": "healthy", "content": json_content(ok(json!({
                    "type": "object", "required": ["store"], "properties": {"store": {"const": "writable"}},
                })))},
                "503": error("1090002: saturated, or the store cannot write (the message says which)"),
                "414": error("414: the request target is over 16 KiB"),
                "431": error("431: the headers are over 64 KiB"),
            },
        }}),
    );
    paths.insert("/metrics".into(), json!({"get": {
        "summary": "The server's own numbers, Prometheus text format (operator token when the server has one)",
        "security": [{}, {"operatorToken": []}],
        "responses": {
            "200": {"description": "the metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": error("99991663: the server has an operator token and this is not it"),
            "414": error("414: the request target is over 16 KiB"),
            "431": error("431: the headers are over 64 KiB"),
        },
    }}));
    paths.insert(
        "/openapi.json".into(),
        json!({"get": {
            "summary": "This document",
            "responses": {
                "200": {"description": "OpenAPI 3.1", "content": json_content(json!({"type": "object"}))},
                "414": error("414: the request target is over 16 KiB"),
                "431": error("431: the headers are over 64 KiB"),
            },
        }}),
    );

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "adminstats",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Per-user activity statistics, wire-compatible with the Lark/Feishu Open Platform's admin_user_stats and admin_dept_stats, and the adminstats-only endpoints beyond them. Every error is the envelope {\"code\",\"msg\",\"error\":{\"log_id\"}}; every answer carries X-Tt-Logid.",
        },
        "components": {
            "securitySchemes": {
                "tenantAccessToken": {"type": "http", "scheme": "bearer", "description": "A tenant access token from the token endpoint."},
                "ingestToken": {"type": "http", "scheme": "bearer", "description": "The tenant's ingest token (directory.md)."},
                "operatorToken": {"type": "http", "scheme": "bearer", "description": "The server's --admin-token."},
            },
            "parameters": parameters,
            "schemas": schemas,
        },
        "paths": paths,
    })
}
