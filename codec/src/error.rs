//! The one error type of the core, grouped by who is at fault.
//!
//! No JavaScript here: [`Error::json`] is what crosses to the shim, which
//! builds a JS `Error` from it with a stable `code`, the HTTP `status`
//! where there is one, and `retryable`.

use crate::json::quote;
use crate::prelude::*;
use crate::text::decimal;
use alloc::borrow::Cow;
use core::fmt;

/// An error's words: most are fixed text, some are made at run time.
pub type Text = Cow<'static, str>;

/// Statuses worth retrying with backoff: rate limits and server trouble.
/// Every other failure status is final (401/403 go through a token
/// refresh first).
pub fn status_is_retryable(status: u16) -> bool {
    status == 408 || status == 425 || status == 429 || (500..=599).contains(&status)
}

/// Everything that can go wrong in the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The server sent bytes we cannot decode (bad JSON, a batch without
    /// `records`, a record without `seq_num`).
    Decode(Text),
    /// The server broke the expected sequence (for example a response with
    /// no body).
    Protocol(Text),
    /// The chat's session was gone and made again while a stream read (or
    /// awaited) a reply of the old one: that reply is lost. A protocol
    /// error to the app; its own variant so that tests tell it apart
    /// without reading the words.
    SessionRemade,
    /// The stream kept being cut before it could deliver (see
    /// [`crate::session`]'s reconnect windows): why, in words. A protocol
    /// error to the app.
    ReconnectsExhausted(Text),
    /// The server answered with a non-success HTTP status.
    Http {
        /// What the transport was doing (`"append"`, `"subscribe"`, ...).
        op: &'static str,
        status: u16,
        /// The response body, cut to a sane length; never a token.
        body: String,
    },
    /// The request never got an answer (DNS, connection refused, CORS).
    Network(Text),
    /// The caller aborted the operation.
    Aborted,
    /// No answer within the allowed time.
    TimedOut(&'static str),
    /// The caller used the API wrongly (bad option, missing callback).
    /// Never caused by data from the network.
    Misuse(Text),
    /// A callback supplied by the app (accessToken, startSession, fetch)
    /// threw or returned something unusable.
    Callback(Text),
    /// The chat's session is closed (the server refused an append with 409
    /// `session_closed`, or the transport knows it closed). Terminal.
    SessionClosed {
        chat_id: String,
        reason: Option<String>,
    },
}

impl Error {
    /// A stable machine-readable code, exposed to JavaScript as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Decode(_) => "DECODE",
            Error::Protocol(_) | Error::SessionRemade | Error::ReconnectsExhausted(_) => "PROTOCOL",
            Error::Http { .. } => "HTTP",
            Error::Network(_) => "NETWORK",
            Error::Aborted => "ABORTED",
            Error::TimedOut(_) => "TIMEOUT",
            Error::Misuse(_) => "MISUSE",
            Error::Callback(_) => "CALLBACK",
            // The server's own code, which apps already key on.
            Error::SessionClosed { .. } => "session_closed",
        }
    }

    /// The HTTP status, for [`Error::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            Error::SessionClosed { .. } => Some(409),
            _ => None,
        }
    }

    /// Whether trying the same thing again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Network(_) | Error::TimedOut(_) => true,
            Error::Http { status, .. } => status_is_retryable(*status),
            _ => false,
        }
    }

    /// 401 or 403: the token was refused.
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// 404: the session does not exist where the token points.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

impl Error {
    /// The message a person reads (also the `Display` text).
    pub fn message(&self) -> String {
        match self {
            Error::Decode(m) => cat!("malformed stream from the server: ", m),
            Error::Protocol(m) => cat!("protocol error: ", m),
            Error::SessionRemade => {
                "protocol error: the chat's session was gone and was made again: this reply went with the old one".into()
            }
            Error::ReconnectsExhausted(why) => cat!("protocol error: reconnect budget exhausted: ", why),
            Error::Http { op, status, body } => {
                let sep = if body.is_empty() { "" } else { " " };
                cat!(op, " failed: ", decimal(u64::from(*status)), sep, body)
            }
            Error::Network(m) => cat!("network error: ", m),
            Error::Aborted => "aborted".into(),
            Error::TimedOut(what) => cat!("timed out waiting for ", what),
            Error::Misuse(m) | Error::Callback(m) => m.to_string(),
            Error::SessionClosed { chat_id, reason } => match reason {
                Some(r) => cat!("Chat session ", chat_id, " is closed: ", r),
                None => cat!("Chat session ", chat_id, " is closed"),
            },
        }
    }

    /// The error as JSON: `code`, `message`, `retryable`, and `status` and
    /// `closedReason` where they apply (the JS shim builds its `Error`
    /// from it: a `TypeError` for misuse).
    pub fn json(&self) -> String {
        let retryable = if self.is_retryable() { "true" } else { "false" };
        let mut o = cat!(
            r#"{"code":""#,
            self.code(),
            r#"","message":"#,
            quote(&self.message()),
            r#","retryable":"#,
            retryable
        );
        if let Error::SessionClosed {
            reason: Some(r), ..
        } = self
        {
            o.push_str(r#","closedReason":"#);
            o.push_str(&quote(r));
        }
        if let Some(status) = self.status() {
            o.push_str(r#","status":"#);
            o.push_str(&decimal(u64::from(status)));
        }
        o.push('}');
        o
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for Error {}

/// The engine or a subscription was driven out of the order its API
/// states (polled after its end, polled while its effect is out, told an
/// outcome its effect cannot have): a bug of the transport, never of the
/// app or the network. One error for every such place, so that the module
/// carries one message.
#[inline(never)]
pub fn out_of_order() -> Error {
    Error::Misuse("internal error: the transport's engine was driven out of order".into())
}

/// Cuts `s` to at most `max` bytes on a character boundary, for error
/// messages that quote server text.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    cat!(&s[..end], "…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_errors_carry_status_and_classification() {
        let e = Error::Http {
            op: "append",
            status: 401,
            body: String::new(),
        };
        assert_eq!(e.status(), Some(401));
        assert!(e.is_auth());
        assert!(!e.is_retryable());
        assert_eq!(e.to_string(), "append failed: 401");
        let e = Error::Http {
            op: "append",
            status: 503,
            body: "busy".into(),
        };
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "append failed: 503 busy");
        assert!(Error::Http {
            op: "x",
            status: 404,
            body: String::new()
        }
        .is_not_found());
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
