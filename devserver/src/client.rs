//! The demo app server's way to the Trigger.dev API: HTTP requests with the secret
//! key, through the API's own routes and rules (auth included). In the emulator the
//! requests go to the in-process API router; with `--api-url` they go over the
//! network to another API (a real Trigger.dev project, or another emulator).

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::Value;
use std::sync::OnceLock;

use axum::Router;
use tower::ServiceExt;

use crate::Shared;

/// Largest API answer the app server reads.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// Where the app server's API calls go.
#[derive(Clone, Debug)]
pub enum ApiTarget {
    /// This process's own API routes.
    Local,
    /// Another API, e.g. `https://api.trigger.dev` (no trailing slash).
    Remote(String),
}

/// An API answer: its status and its JSON body (`null` when it has none).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

/// Calls `method path` with the secret key and an optional JSON body. `Err` when
/// the API could not be reached or did not answer JSON.
pub async fn call(
    st: &Shared,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Answer, String> {
    match &st.config.api_target {
        ApiTarget::Local => local(st, method, path, body).await,
        ApiTarget::Remote(base) => {
            let url = format!("{base}{path}");
            let key = st.config.secret_key.clone();
            let body = body.map(Value::to_string);
            tokio::task::spawn_blocking(move || remote(&url, &key, method, body))
                .await
                .map_err(|e| format!("API call failed: {e}"))?
        }
    }
}

async fn local(
    st: &Shared,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "api.internal")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", st.config.secret_key),
        );
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let req = req
        .body(body)
        .map_err(|e| format!("bad API request: {e}"))?;
    static ROUTES: OnceLock<Router<Shared>> = OnceLock::new();
    let resp = ROUTES
        .get_or_init(crate::api_routes)
        .clone()
        .with_state(st.clone())
        .oneshot(req)
        .await
        .map_err(|e| format!("API call failed: {e}"))?;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), MAX_ANSWER)
        .await
        .map_err(|e| format!("API answer unreadable: {e}"))?;
    parse_answer(status, &bytes)
}

fn parse_answer(status: StatusCode, bytes: &[u8]) -> Result<Answer, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Answer {
            status,
            body: Value::Null,
        });
    }
    serde_json::from_slice(bytes)
        .map(|body| Answer { status, body })
        .map_err(|_| format!("the API answered {status} with a body that is not JSON"))
}

fn remote(url: &str, key: &str, method: Method, body: Option<String>) -> Result<Answer, String> {
    use std::io::Read;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let auth = format!("Bearer {key}");
    let result = match (method.as_str(), body) {
        ("GET", _) => agent.get(url).header("authorization", &auth).call(),
        ("DELETE", _) => agent.delete(url).header("authorization", &auth).call(),
        (m, body) => {
            let b = match m {
                "PUT" => agent.put(url),
                "PATCH" => agent.patch(url),
                _ => agent.post(url),
            }
            .header("authorization", &auth)
            .header("content-type", "application/json");
            b.send(body.unwrap_or_default())
        }
    };
    // The error text may carry the URL, never the key (it is only in a header).
    let mut resp = result.map_err(|e| format!("API unreachable: {e}"))?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut bytes = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(MAX_ANSWER as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("API answer unreadable: {e}"))?;
    parse_answer(status, &bytes)
}
