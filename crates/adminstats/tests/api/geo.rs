//! Cross-geo forwarding between two in-process servers, one per geo.
//!
//! Their wall clocks differ by hours, so a log id (which starts with the wall-clock time of the
//! server that made it) says which server answered.

use adminstats_core::Geo;
use adminstats_wire::{codes, USER_STATS_PATH};
use serde_json::{json, Value};

use crate::helpers::*;

/// The log ids of the cn server (its wall clock is [`NOW`], 02:00 UTC).
const CN_LOG_ID: &str = "20261121020000";
/// The log ids of the sg server, 3 h 33 min 33 s ahead.
const SG_LOG_ID: &str = "20261121053333";

/// GET with a bearer token; returns status, the `X-Tt-Logid` header and the body's bytes.
async fn get(api: &Api, token: &str, query: &str) -> (u16, String, Vec<u8>) {
    let r =
        api.http.get(api.url(&format!("{USER_STATS_PATH}?{query}"))).bearer_auth(token).send().await.unwrap();
    let log_id = r.headers()["x-tt-logid"].to_str().unwrap().to_owned();
    (r.status().as_u16(), log_id, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn cross_geo_queries_are_answered_by_the_peer_unchanged() {
    // acme (a cn tenant) has opened sg and us; only sg has a peer.
    let mut dir = directory();
    dir["tenants"][0]["cross_geo"] = json!(["sg", "us"]);
    let sg = TestApp::builder()
        .directory(dir.clone())
        .wall("2026-11-21T05:33:33Z")
        .config(|c| c.geo = Geo::Sg)
        .spawn()
        .await;
    let peer = sg.base.clone();
    let cn = TestApp::builder().directory(dir).config(move |c| c.peers = vec![(Geo::Sg, peer)]).spawn().await;
    // Each geo holds its own events: 3 messages in cn, 7 in sg, for the same user and day.
    let sent = |id: &str, n: u32| {
        event(id, "im.message.sent", 1, "2026-11-20T10:00:00+08:00", &format!(r#","count":{n}"#))
    };
    assert_eq!(cn.ingest(INGEST_CN, &sent("c", 3)).await.1["data"]["accepted"], 1);
    assert_eq!(sg.ingest(INGEST_CN, &sent("s", 7)).await.1["data"]["accepted"], 1);
    let q = format!("start_date=2026-11-20&end_date=2026-11-20&user_id={}", oid(1));

    // The real client asks cn; target_geo=sg gets sg's numbers.
    let client = cn.client("cli_full", "secret-full");
    assert_eq!(cn.rows(&client, &q).await[0].send_messenger_num, 3, "served here");
    let there = cn.rows(&client, &format!("{q}&target_geo=sg")).await;
    assert_eq!((there.len(), there[0].send_messenger_num), (1, 7), "served by the peer");

    // Byte for byte what sg answers itself, with sg's log id.
    let t_cn = cn.token("cli_full", "secret-full").await;
    let t_sg = sg.token("cli_full", "secret-full").await;
    let (status, log_id, via_cn) = get(&cn, &t_cn, &format!("{q}&target_geo=sg")).await;
    assert_eq!(status, 200);
    assert!(log_id.starts_with(SG_LOG_ID), "the peer's log id comes back: {log_id}");
    let (_, direct_log_id, direct) = get(&sg, &t_sg, &format!("{q}&target_geo=sg")).await;
    assert_eq!(via_cn, direct, "the peer's body comes back unchanged");
    assert_ne!(log_id, direct_log_id, "two requests to sg");

    // The peer's refusal comes back as the peer sent it: status, code, and its log id in both places.
    let (status, log_id, body) = get(&cn, &t_cn, &format!("{q}&target_geo=sg&page_size=abc")).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, v["code"].as_i64()), (500, Some(codes::PARAM_INVALID)), "{v}");
    assert!(log_id.starts_with(SG_LOG_ID), "{log_id}");
    assert_eq!(v["error"]["log_id"], log_id.as_str());

    // cn's own refusals: a geo the tenant has not opened, and an opened geo without a peer.
    let (status, log_id, body) = get(&cn, &t_cn, &format!("{q}&target_geo=jp")).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, v["code"].as_i64()), (400, Some(codes::NO_PERMISSION)), "{v}");
    assert!(log_id.starts_with(CN_LOG_ID), "{log_id}");
    let e = client.list_user_stats(&query(&format!("{q}&target_geo=us"))).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(500), Some(codes::PARAM_INVALID)));
    assert!(e.msg().unwrap().contains("knows no peer for us"), "{e}");

    // sg's clock passes the two hours of the token cn holds for it (cn's clock still says it is
    // good): sg refuses it, and cn fetches a fresh one once, unseen by the caller.
    sg.wall.advance(2 * 3600 * 1000);
    let (status, log_id, body) = get(&cn, &t_cn, &format!("{q}&target_geo=sg")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(log_id.starts_with("20261121073333"), "{log_id}");
    let t_sg = sg.token("cli_full", "secret-full").await;
    assert_eq!(body, get(&sg, &t_sg, &format!("{q}&target_geo=sg")).await.2);

    // A peer that is gone: 502 with cn's own log id.
    sg.stop().await;
    let (status, log_id, body) = get(&cn, &t_cn, &format!("{q}&target_geo=sg")).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, v["code"].as_i64()), (502, Some(codes::PEER_UNAVAILABLE)), "{v}");
    assert!(log_id.starts_with(CN_LOG_ID), "{log_id}");
}
