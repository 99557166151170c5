//! CORS for the API routes, the same-origin guard of the credential-free routes,
//! the JSON 404, and static files from `--www`.

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::util::api_error;
use crate::Shared;

const ALLOW_HEADERS: &str = "Authorization, Content-Type, X-Part-Id, Last-Event-ID, \
Timeout-Seconds, X-Peek-Settled, x-trigger-source, trigger-version, x-trigger-branch, Accept";
const EXPOSE_HEADERS: &str = "X-Session-Settled, X-Stream-Version, x-ratelimit-limit, \
x-ratelimit-remaining, x-ratelimit-reset, x-trigger-jwt, x-trigger-jwt-claims, Content-Type";

/// Whether a path is one of the credential-free routes (the demo app server and
/// the fault controls): those answer only their own origin.
pub fn is_own_origin_only(p: &str) -> bool {
    p == "/app" || p.starts_with("/app/") || p == "/_dev" || p.starts_with("/_dev/")
}

/// Whether a request to a credential-free route comes from a page of this
/// server's own origin (or from no page at all, like curl or a test).
///
/// Refused: an `Origin` that is not `http(s)://{Host}`, a `Sec-Fetch-Site` of
/// `cross-site` or `same-site`, and a `Host` that is not a loopback name, an IP
/// literal or the bound host (a DNS-rebinding page has its own name as Host).
pub fn same_origin(headers: &HeaderMap, bound_host: &str) -> bool {
    let host = match headers.get(header::HOST).map(|h| h.to_str()) {
        None => return true, // HTTP/1.0 without Host: no browser sends that
        Some(Ok(h)) => h.trim().to_ascii_lowercase(),
        Some(Err(_)) => return false,
    };
    if !trusted_host(&host, bound_host) {
        return false;
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        match site.to_str().map(str::trim) {
            Ok("same-origin") | Ok("none") => {}
            _ => return false,
        }
    }
    match headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        Some(Ok(o)) => {
            let o = o.trim().to_ascii_lowercase();
            o == format!("http://{host}") || o == format!("https://{host}")
        }
        Some(Err(_)) => false,
    }
}

/// `localhost`, `*.localhost`, an IP literal or the `--host` name, with any port.
fn trusted_host(host: &str, bound_host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        match rest.split_once(']') {
            Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        host.rsplit_once(':').map(|(n, _)| n).unwrap_or(host)
    };
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case(bound_host)
}

/// Credential-free routes (`/app/*`, `/_dev/*`): no CORS headers, and a 403 for
/// a request from another origin. Every other route: CORS for any origin.
pub async fn cors_layer(State(st): State<Shared>, req: Request, next: Next) -> Response {
    if is_own_origin_only(req.uri().path()) {
        if !same_origin(req.headers(), &st.config.host) {
            return api_error(
                StatusCode::FORBIDDEN,
                "This route answers only pages served by this server (cross-origin request refused)",
            );
        }
        return next.run(req).await;
    }
    api_cors(req, next).await
}

/// Adds CORS headers to every response (errors included) and answers preflights.
async fn api_cors(req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let requested = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        origin.unwrap_or_else(|| HeaderValue::from_static("*")),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    // Echo what the browser asked for (covers "any header"), plus the known list.
    let allow = match requested.as_ref().and_then(|v| v.to_str().ok()) {
        Some(r) if !r.trim().is_empty() => format!("{ALLOW_HEADERS}, {r}"),
        _ => ALLOW_HEADERS.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&allow) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    resp
}

fn is_api_path(p: &str) -> bool {
    ["/api/", "/realtime/", "/app/", "/_dev/"]
        .iter()
        .any(|pre| p.starts_with(pre))
        || p == "/app"
        || p == "/api"
        || p == "/realtime"
        || p == "/_dev"
}

/// Unknown routes: static files (with an index.html fallback) for GETs outside the
/// API prefixes when `--www` is set, a JSON 404 otherwise.
pub async fn fallback(State(st): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if let (Some(root), true, false) = (
        st.config.www.as_ref(),
        method == Method::GET || method == Method::HEAD,
        is_api_path(&path),
    ) {
        return serve_static(root, &path).await;
    }
    api_error(
        StatusCode::NOT_FOUND,
        format!("No route for {method} {path}"),
    )
}

/// A known route called with the wrong method.
pub async fn method_not_allowed(req: Request) -> Response {
    api_error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

fn safe_join(root: &Path, url_path: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for comp in Path::new(url_path.trim_start_matches('/')).components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

async fn serve_static(root: &Path, url_path: &str) -> Response {
    let decoded = percent_decode(url_path);
    let candidate = safe_join(root, &decoded);
    if let Some(p) = candidate {
        let p = if p.is_dir() { p.join("index.html") } else { p };
        if let Ok(bytes) = tokio::fs::read(&p).await {
            return file_response(&p, bytes);
        }
    }
    let index = root.join("index.html");
    match tokio::fs::read(&index).await {
        Ok(bytes) => file_response(&index, bytes),
        Err(_) => api_error(StatusCode::NOT_FOUND, "Not found"),
    }
}

fn file_response(p: &Path, bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(p)),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_refuses_parent_dirs() {
        let root = Path::new("/srv");
        assert_eq!(
            safe_join(root, "/a/b.js"),
            Some(PathBuf::from("/srv/a/b.js"))
        );
        assert_eq!(safe_join(root, "/../etc/passwd"), None);
        assert_eq!(percent_decode("/a%20b"), "/a b");
        assert_eq!(percent_decode("/a%2"), "/a%2");
    }
}
