//! [`BulkRows`]: the rows of a bulk export, read from its NDJSON stream with constant memory.

use std::pin::Pin;

use adminstats_wire::{codes, Envelope, UserStatItem};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::error::{Error, Result};

/// The last line of a complete export stream: `{"done":true,"rows":N}`.
#[derive(Debug, Deserialize)]
struct Trailer {
    done: bool,
    rows: u64,
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The rows of one bulk export, in the server's order (date, then user), read line by line.
///
/// Memory stays bounded by the longest line and one network chunk, whatever the size of the
/// export. The stream is complete only when the server's trailer arrived with the right count:
/// anything else ends in [`Error::Truncated`].
pub struct BulkRows {
    body: Body,
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    pos: usize,
    rows: u64,
    trailer_seen: bool,
    eof: bool,
    log_id: String,
}

impl std::fmt::Debug for BulkRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkRows").field("rows", &self.rows).field("log_id", &self.log_id).finish()
    }
}

impl BulkRows {
    pub(crate) fn new(resp: reqwest::Response, log_id: String) -> Self {
        Self::from_body(Box::pin(resp.bytes_stream()), log_id)
    }

    fn from_body(body: Body, log_id: String) -> Self {
        BulkRows {
            body,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            rows: 0,
            trailer_seen: false,
            eof: false,
            log_id,
        }
    }

    /// The log id of the export request; empty when the server sent none.
    pub fn log_id(&self) -> &str {
        &self.log_id
    }

    /// Rows returned so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next row, or `None` once the stream ended with a trailer that matches the count.
    ///
    /// # Errors
    /// [`Error::Truncated`] when the stream ends early (no trailer, or fewer rows than it
    /// announces), [`Error::Transport`] when the connection fails mid-stream, [`Error::Api`] for
    /// an error envelope in the stream, [`Error::Decode`] for a line that is none of these.
    /// After an error the stream is spent.
    pub async fn next_row(&mut self) -> Result<Option<UserStatItem>> {
        loop {
            if let Some(len) = memchr::memchr(b'\n', &self.buf[self.pos..]) {
                let start = self.pos;
                self.pos += len + 1;
                if let Some(item) = self.line(start, start + len)? {
                    return Ok(Some(item));
                }
                continue;
            }
            if self.eof {
                if self.pos < self.buf.len() {
                    // A last line without its newline.
                    let (start, end) = (self.pos, self.buf.len());
                    self.pos = end;
                    if let Some(item) = self.line(start, end)? {
                        return Ok(Some(item));
                    }
                }
                if !self.trailer_seen {
                    return Err(Error::Truncated { rows: self.rows, log_id: self.log_id.clone() });
                }
                return Ok(None);
            }
            match self.body.next().await {
                Some(Ok(chunk)) => {
                    if self.pos > 0 {
                        self.buf.drain(..self.pos);
                        self.pos = 0;
                    }
                    self.buf.extend_from_slice(&chunk);
                }
                Some(Err(e)) => {
                    self.eof = true;
                    self.trailer_seen = false;
                    return Err(Error::Transport(e));
                }
                None => self.eof = true,
            }
        }
    }

    /// Turns the rows into a `Stream`, for use with stream combinators.
    ///
    /// # Errors
    /// The stream yields the error of [`BulkRows::next_row`] that stopped it, and then ends.
    pub fn into_stream(self) -> impl Stream<Item = Result<UserStatItem>> + Send {
        futures_util::stream::try_unfold(self, |mut rows| async move {
            Ok(rows.next_row().await?.map(|item| (item, rows)))
        })
    }

    /// Interprets one line: a row, the trailer (`None`), or an error.
    fn line(&mut self, start: usize, end: usize) -> Result<Option<UserStatItem>> {
        let line = self.buf[start..end].trim_ascii();
        if line.is_empty() {
            return Ok(None);
        }
        if self.trailer_seen {
            return Err(self.decode_error("data after the trailer"));
        }
        let item_error = match serde_json::from_slice::<UserStatItem>(line) {
            Ok(item) => {
                self.rows += 1;
                return Ok(Some(item));
            }
            Err(e) => e,
        };
        if let Ok(t) = serde_json::from_slice::<Trailer>(line) {
            if !t.done || t.rows > self.rows {
                return Err(Error::Truncated { rows: self.rows, log_id: self.log_id.clone() });
            }
            if t.rows < self.rows {
                let msg = format!("trailer counts {} rows, {} received", t.rows, self.rows);
                return Err(self.decode_error(&msg));
            }
            self.trailer_seen = true;
            return Ok(None);
        }
        if let Ok(env) = serde_json::from_slice::<Envelope<IgnoredAny>>(line) {
            if env.code != codes::OK {
                let log_id = env.error.map(|e| e.log_id).filter(|l| !l.is_empty());
                return Err(Error::Api {
                    status: 200,
                    code: env.code,
                    msg: env.msg,
                    log_id: log_id.unwrap_or_else(|| self.log_id.clone()),
                });
            }
        }
        Err(self.decode_error(&format!("row {}: {item_error}", self.rows + 1)))
    }

    fn decode_error(&self, message: &str) -> Error {
        Error::Decode { message: message.to_owned(), log_id: self.log_id.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_from(chunks: &[&str]) -> BulkRows {
        let owned: Vec<reqwest::Result<Bytes>> =
            chunks.iter().map(|c| Ok(Bytes::copy_from_slice(c.as_bytes()))).collect();
        BulkRows::from_body(Box::pin(futures_util::stream::iter(owned)), "L".into())
    }

    fn item_line(date: &str, user: &str) -> String {
        let item = UserStatItem { date: date.into(), user_id: user.into(), ..Default::default() };
        serde_json::to_string(&item).unwrap() + "\n"
    }

    async fn drain(mut r: BulkRows) -> (Vec<UserStatItem>, Option<Error>) {
        let mut got = vec![];
        loop {
            match r.next_row().await {
                Ok(Some(i)) => got.push(i),
                Ok(None) => return (got, None),
                Err(e) => return (got, Some(e)),
            }
        }
    }

    #[tokio::test]
    async fn complete_stream_split_anywhere_yields_every_row() {
        let text = [item_line("2026-01-01", "a"), item_line("2026-01-01", "b"), item_line("2026-01-02", "a")]
            .concat()
            + "{\"done\":true,\"rows\":3}\n";
        for cut in 0..text.len() {
            let (a, b) = text.split_at(cut);
            let (got, err) = drain(rows_from(&[a, b])).await;
            assert!(err.is_none(), "cut at {cut}: {err:?}");
            let users: Vec<_> = got.iter().map(|i| (i.date.as_str(), i.user_id.as_str())).collect();
            assert_eq!(users, [("2026-01-01", "a"), ("2026-01-01", "b"), ("2026-01-02", "a")]);
        }
    }

    #[tokio::test]
    async fn missing_or_short_trailer_is_truncation() {
        let one = item_line("2026-01-01", "a");
        let (got, err) = drain(rows_from(&[&one])).await;
        assert_eq!(got.len(), 1);
        assert!(matches!(err, Some(Error::Truncated { rows: 1, .. })), "{err:?}");
        // Cut in the middle of a line.
        let (_, err) = drain(rows_from(&[&one[..10]])).await;
        assert!(matches!(err, Some(Error::Decode { .. })), "{err:?}");
        let (_, err) = drain(rows_from(&[&one, "{\"done\":true,\"rows\":2}\n"])).await;
        assert!(matches!(err, Some(Error::Truncated { rows: 1, .. })), "{err:?}");
        assert!(err.unwrap().is_retryable());
    }

    #[tokio::test]
    async fn trailer_without_newline_and_empty_export_are_complete() {
        let (got, err) = drain(rows_from(&["{\"done\":true,\"rows\":0}"])).await;
        assert!(got.is_empty() && err.is_none(), "{err:?}");
        let (got, err) = drain(rows_from(&["\r\n", "{\"done\": true, \"rows\": 0}\r\n"])).await;
        assert!(got.is_empty() && err.is_none(), "{err:?}");
    }

    #[tokio::test]
    async fn error_envelope_and_garbage_in_the_stream_are_reported() {
        let env = r#"{"code":500,"msg":"internal","error":{"log_id":"X"}}"#;
        let (_, err) = drain(rows_from(&[env, "\n"])).await;
        match err {
            Some(Error::Api { code: 500, log_id, .. }) => assert_eq!(log_id, "X"),
            e => panic!("{e:?}"),
        }
        let (_, err) = drain(rows_from(&["not json\n"])).await;
        assert!(matches!(err, Some(Error::Decode { .. })), "{err:?}");
        let tail = ["{\"done\":true,\"rows\":0}\n", &item_line("2026-01-01", "a")].concat();
        let (_, err) = drain(rows_from(&[&tail])).await;
        assert!(matches!(err, Some(Error::Decode { .. })), "{err:?}");
    }
}
