//! Page tokens: opaque, tamper-evident cursors bound to one query.
//!
//! A token is `base64url(version ‖ query fingerprint ‖ position ‖ mac)`: the SHA-256 fingerprint of
//! every query parameter but `page_size` (after defaults) plus tenant and app, the position after
//! the last item served (its bytes are the typed cursor's, see `query::cursor`), and an
//! HMAC-SHA256 under the key kept in the store. Resuming by key, not by offset, is what keeps pages
//! exact while events arrive between them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
pub const FP_LEN: usize = 16;
const MAC_LEN: usize = 16;

/// The fingerprint of a query: every part that must not change between its pages.
pub fn fingerprint(parts: &[&str]) -> [u8; FP_LEN] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let mut out = [0u8; FP_LEN];
    out.copy_from_slice(&h.finalize()[..FP_LEN]);
    out
}

fn mac(key: &[u8; 32], payload: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(payload);
    m
}

/// Encodes a position for the query with fingerprint `fp`.
pub fn encode(key: &[u8; 32], fp: &[u8; FP_LEN], position: &[u8]) -> String {
    let mut payload = Vec::with_capacity(1 + FP_LEN + position.len() + MAC_LEN);
    payload.push(VERSION);
    payload.extend_from_slice(fp);
    payload.extend_from_slice(position);
    let tag = mac(key, &payload).finalize().into_bytes();
    payload.extend_from_slice(&tag[..MAC_LEN]);
    URL_SAFE_NO_PAD.encode(payload)
}

/// Decodes a token, checking it is ours, unaltered, and of this query; returns its position.
///
/// # Errors
/// A sentence saying why the token is refused.
pub fn decode(key: &[u8; 32], fp: &[u8; FP_LEN], token: &str) -> Result<Vec<u8>, &'static str> {
    let raw = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| "it is not a token this server issued")?;
    if raw.len() < 1 + FP_LEN + MAC_LEN {
        return Err("it is not a token this server issued");
    }
    let (payload, tag) = raw.split_at(raw.len() - MAC_LEN);
    mac(key, payload)
        .verify_truncated_left(tag)
        .map_err(|_| "it was altered or not issued by this server")?;
    if payload[0] != VERSION {
        return Err("it is from an incompatible version");
    }
    if &payload[1..1 + FP_LEN] != fp {
        return Err("it belongs to a different query (every parameter but page_size must stay the same)");
    }
    Ok(payload[1 + FP_LEN..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let key = [3u8; 32];
        let fp = fingerprint(&["acme", "cli", "2026-11-01"]);
        let c = b"\x01\x02\x03\x04ou_1";
        let t = encode(&key, &fp, c);
        assert_eq!(decode(&key, &fp, &t).unwrap(), c);
        assert!(decode(&[4u8; 32], &fp, &t).is_err(), "another key");
        assert!(decode(&key, &fingerprint(&["acme", "cli", "2026-11-02"]), &t)
            .unwrap_err()
            .contains("different query"));
        let mut bytes = URL_SAFE_NO_PAD.decode(&t).unwrap();
        bytes[20] ^= 1;
        assert!(decode(&key, &fp, &URL_SAFE_NO_PAD.encode(bytes)).unwrap_err().contains("altered"));
        assert!(decode(&key, &fp, "%%%").is_err());
        assert!(decode(&key, &fp, "").is_err());
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]), "parts are length-prefixed");
    }
}
