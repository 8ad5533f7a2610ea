//! The client's one error type, and which of its cases are worth another attempt.

use std::time::Duration;

/// Everything that can go wrong talking to the API.
///
/// Every variant that comes from a reply carries the reply's log id (`X-Tt-Logid`, or the
/// `error.log_id` of the body when the header is missing), which is what Lark support and the
/// adminstats server log both index by.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API answered with a non-zero `code`: a refused token, a bad parameter, a missing scope,
    /// the rate limit.
    #[error("{msg} (code {code}, HTTP {status}, log id {log_id})")]
    Api {
        /// The HTTP status of the reply.
        status: u16,
        /// The Lark error code ([`adminstats_wire::codes`]).
        code: i64,
        /// The server's message.
        msg: String,
        /// The request's log id; empty when the server sent none.
        log_id: String,
    },
    /// The server answered with an HTTP error whose body is not a Lark envelope (a proxy's error
    /// page, for example).
    #[error("HTTP {status} without a Lark envelope (log id {log_id}): {body}")]
    Http {
        /// The HTTP status of the reply.
        status: u16,
        /// The request's log id; empty when the server sent none.
        log_id: String,
        /// The start of the body, for the person reading the error.
        body: String,
    },
    /// The request could not be sent or its reply could not be read: refused or dropped
    /// connection, timeout, TLS failure.
    ///
    /// The `reqwest` error is the [`std::error::Error::source`], not repeated in the message:
    /// print the chain (`{:#}` with `anyhow`) to see it.
    #[error("transport failure")]
    Transport(#[source] reqwest::Error),
    /// The reply was read but is not what the API promises.
    #[error("cannot decode the reply (log id {log_id}): {message}")]
    Decode {
        /// What was wrong with it.
        message: String,
        /// The request's log id; empty when the server sent none.
        log_id: String,
    },
    /// A bulk export stream ended without its `{"done":true,"rows":N}` trailer, or with a count
    /// that does not match the rows received: it was cut short and must be fetched again.
    #[error("export stream truncated after {rows} rows (log id {log_id})")]
    Truncated {
        /// Rows received before the stream ended.
        rows: u64,
        /// The request's log id; empty when the server sent none.
        log_id: String,
    },
    /// The client was built or called with something that cannot work (a malformed base URL).
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The Lark error code, for [`Error::Api`].
    pub fn code(&self) -> Option<i64> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The server's message, for [`Error::Api`].
    pub fn msg(&self) -> Option<&str> {
        match self {
            Error::Api { msg, .. } => Some(msg),
            _ => None,
        }
    }

    /// The log id of the reply that failed, when there was a reply and it had one.
    pub fn log_id(&self) -> Option<&str> {
        match self {
            Error::Api { log_id, .. }
            | Error::Http { log_id, .. }
            | Error::Decode { log_id, .. }
            | Error::Truncated { log_id, .. } => Some(log_id).filter(|l| !l.is_empty()).map(String::as_str),
            Error::Transport(_) | Error::Config(_) => None,
        }
    }

    /// The HTTP status of the reply that failed, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Http { status, .. } => Some(*status),
            Error::Transport(e) => e.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// Whether sending the same request again may succeed: the rate limit, a server failure
    /// (but not Lark's parameter error, which it serves as HTTP 500), a transport failure, a
    /// truncated stream.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api { status, code, .. } => {
                *status == 429
                    || *code == adminstats_wire::codes::RATE_LIMITED
                    || (*status >= 500 && *code != adminstats_wire::codes::PARAM_INVALID)
            }
            Error::Http { status, .. } => *status == 429 || *status >= 500,
            Error::Transport(e) => !e.is_builder() && !e.is_redirect(),
            Error::Truncated { .. } => true,
            Error::Decode { .. } | Error::Config(_) => false,
        }
    }
}

/// A failed attempt, with what the server asked us to wait before the next one.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: Error,
    /// `x-ogw-ratelimit-reset`, when the server sent it.
    pub retry_after: Option<Duration>,
    /// The server refused the token: worth one more attempt with a fresh one.
    pub token_rejected: bool,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure { error, retry_after: None, token_rejected: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adminstats_wire::codes;

    fn api(status: u16, code: i64) -> Error {
        Error::Api { status, code, msg: "m".into(), log_id: "L".into() }
    }

    #[test]
    fn lark_param_error_is_final_although_served_as_500() {
        assert!(!api(500, codes::PARAM_INVALID).is_retryable());
        assert!(api(500, codes::INTERNAL).is_retryable());
        assert!(api(503, 0).is_retryable());
        assert!(api(429, codes::RATE_LIMITED).is_retryable());
        assert!(!api(400, codes::INVALID_TOKEN).is_retryable());
        assert!(!api(400, codes::NO_PERMISSION).is_retryable());
        assert!(!api(200, codes::TOKEN_BAD_SECRET).is_retryable());
    }

    #[test]
    fn accessors_expose_code_msg_and_log_id() {
        let e = api(400, codes::SCOPE_REQUIRED);
        assert_eq!(e.code(), Some(codes::SCOPE_REQUIRED));
        assert_eq!(e.msg(), Some("m"));
        assert_eq!(e.log_id(), Some("L"));
        assert_eq!(e.status(), Some(400));
        let e = Error::Decode { message: "x".into(), log_id: String::new() };
        assert_eq!(e.log_id(), None);
    }
}
