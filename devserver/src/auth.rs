//! Bearer authentication: the secret key, or a public access token (JWT) with scopes.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::util::{api_error, header_str, now_secs, rt_error};
use crate::{jwt, AppState};

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The environment's secret API key: may do anything.
    Secret,
    /// A public access token with these scopes.
    Token { scopes: Vec<String> },
}

/// Which error body shape to answer with.
#[derive(Clone, Copy)]
pub enum Flavor {
    Api,
    Realtime,
}

pub fn error(flavor: Flavor, status: StatusCode, msg: &str) -> Response {
    match flavor {
        Flavor::Api => api_error(status, msg),
        Flavor::Realtime => rt_error(status, msg),
    }
}

/// Reads and checks the `Authorization: Bearer ...` header.
pub fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    flavor: Flavor,
) -> Result<Principal, Response> {
    let unauthorized = |m: &str| error(flavor, StatusCode::UNAUTHORIZED, m);
    let Some(raw) = header_str(headers, "authorization") else {
        return Err(unauthorized("Missing Authorization header"));
    };
    let token = match raw.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => {
            return Err(unauthorized(
                "Authorization header must use the Bearer scheme",
            ))
        }
    };
    if token.is_empty() {
        return Err(unauthorized("Missing bearer token"));
    }
    if token == state.config.secret_key {
        return Ok(Principal::Secret);
    }
    if token.starts_with("tr_") {
        return Err(unauthorized("Invalid API key"));
    }
    let claims = jwt::verify(&state.config.secret_key, token, now_secs())
        .map_err(|e| unauthorized(e.message()))?;
    if state.faults.is_revoked(&claims) {
        return Err(unauthorized("Public Access Token has been revoked"));
    }
    let scopes = match claims.get("scopes") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Principal::Token { scopes })
}

/// The access a route needs on a session.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Admin,
}

impl Principal {
    fn has(&self, scope: &str) -> bool {
        match self {
            Principal::Secret => true,
            Principal::Token { scopes } => scopes.iter().any(|s| s == scope),
        }
    }

    pub fn is_secret(&self) -> bool {
        matches!(self, Principal::Secret)
    }

    /// Whether the caller may access a session known by any of `ids`.
    pub fn allows_session(&self, access: Access, ids: &[&str]) -> bool {
        if self.is_secret() || self.has("admin") || self.has("admin:sessions") {
            return true;
        }
        if ids
            .iter()
            .any(|id| self.has(&format!("admin:sessions:{id}")))
        {
            return true;
        }
        let verb = match access {
            Access::Read => "read",
            Access::Write => "write",
            Access::Admin => return false,
        };
        if self.has(&format!("{verb}:all")) || self.has(&format!("{verb}:sessions")) {
            return true;
        }
        ids.iter()
            .any(|id| self.has(&format!("{verb}:sessions:{id}")))
    }

    /// Whether the caller may create a session for `task`.
    pub fn may_create(&self, task: &str) -> bool {
        if self.is_secret() {
            return true;
        }
        let can_write =
            self.has("write:sessions") || self.has("admin:sessions") || self.has("admin");
        let task_ok = self.has(&format!("tasks:{task}"))
            || self.has(&format!("trigger:tasks:{task}"))
            || self.has("trigger:tasks")
            || self.has("admin");
        can_write && task_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(s: &[&str]) -> Principal {
        Principal::Token {
            scopes: s.iter().map(|x| x.to_string()).collect(),
        }
    }

    #[test]
    fn session_scopes() {
        let p = tok(&["read:sessions:chat-1", "write:sessions:chat-1"]);
        assert!(p.allows_session(Access::Read, &["session_x", "chat-1"]));
        assert!(p.allows_session(Access::Write, &["session_x", "chat-1"]));
        assert!(!p.allows_session(Access::Admin, &["session_x", "chat-1"]));
        assert!(!p.allows_session(Access::Read, &["session_y", "chat-2"]));
        let r = tok(&["read:sessions:chat-1"]);
        assert!(!r.allows_session(Access::Write, &["chat-1"]));
        assert!(tok(&["read:sessions"]).allows_session(Access::Read, &["any"]));
        assert!(tok(&["admin:sessions"]).allows_session(Access::Admin, &["any"]));
        assert!(Principal::Secret.allows_session(Access::Admin, &["any"]));
    }

    #[test]
    fn create_needs_write_and_task() {
        assert!(tok(&["write:sessions", "tasks:ai-chat"]).may_create("ai-chat"));
        assert!(!tok(&["write:sessions"]).may_create("ai-chat"));
        assert!(!tok(&["tasks:ai-chat"]).may_create("ai-chat"));
        assert!(!tok(&["write:sessions", "tasks:other"]).may_create("ai-chat"));
    }
}
