//! Public access tokens the platform mints (HS256, signed with the secret key).

use crate::util::now_secs;
use crate::{jwt, AppState};

/// Mints a public access token with these scopes.
pub fn mint(state: &AppState, scopes: &[String]) -> String {
    let claims = jwt::claims(
        scopes,
        state.config.token_ttl_secs,
        state.faults.generation(),
        now_secs(),
    );
    jwt::sign(&state.config.secret_key, &claims)
}

/// A session-scoped token: `read:sessions:{id}` + `write:sessions:{id}` (+ the run).
pub fn session_token(state: &AppState, scope_id: &str, run_id: Option<&str>) -> String {
    let mut scopes = vec![
        format!("read:sessions:{scope_id}"),
        format!("write:sessions:{scope_id}"),
    ];
    if let Some(r) = run_id {
        scopes.push(format!("read:runs:{r}"));
    }
    mint(state, &scopes)
}
