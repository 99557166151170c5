//! trigger-devserver: a local emulator of the parts of the Trigger.dev API that
//! browser chat transports talk to, a scripted chat agent, and a demo app server.

// Handlers return a ready-made error `Response` as their `Err`; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

pub mod agent;
pub mod api;
pub mod app;
pub mod app_db;
pub mod auth;
pub mod client;
pub mod faults;
pub mod jwt;
pub mod runs;
pub mod sse;
pub mod store;
pub mod tokens;
pub mod util;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post, put};
use axum::Router;

/// The development secret key used when `--secret-key` is not given.
pub const DEFAULT_SECRET_KEY: &str = "tr_dev_devserver_local_secret_key";

/// The environment id reported in token claims.
pub const ENV_ID: &str = "env_devserver_local";

/// The task identifier the scripted agent answers to in the demo.
pub const DEMO_TASK_ID: &str = "ai-chat";

/// Runtime configuration (the command line).
#[derive(Clone, Debug)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub secret_key: String,
    pub token_ttl_secs: u64,
    pub faults: bool,
    pub www: Option<PathBuf>,
    /// `None` means an in-memory database.
    pub db: Option<PathBuf>,
    pub chunk_delay_ms: u64,
    /// How long each run of the scripted agent takes to boot (`--run-boot-ms`).
    pub run_boot_ms: u64,
    pub idle_timeout_secs: u64,
    /// Upper bound applied to `Timeout-Seconds` (a testing aid; default 600).
    pub max_stream_secs: u64,
    pub ping_interval: Duration,
    /// What the store keeps (sessions, records, part ids, history).
    pub limits: store::Limits,
    /// Most `.out` connections open at once (a 429 beyond).
    pub max_out_connections: u64,
    /// Where the demo app server's API calls go (`--api-url`): with a remote API
    /// this server serves only the page and `/app/`.
    pub api_target: client::ApiTarget,
    /// The task id the demo page starts sessions for.
    pub task_id: String,
    /// `--fault-out-cut-bytes`: every `.out` connection is cut at a random byte
    /// offset in this window (inclusive).
    pub out_cut_bytes: Option<(u64, u64)>,
    /// The wall clock (Unix ms) of the sessions' `createdAt` / `updatedAt` /
    /// `closedAt` and of the demo database's `updatedAt`. Never used to order
    /// anything; tests freeze it to put everything in one clock tick.
    pub clock: fn() -> u64,
    /// Every `.out` connection ends (`[DONE]`) right after the first
    /// `turn-complete` it sends, its records ready by then included: a testing aid
    /// for scripts that read one turn per connection and would otherwise wait out
    /// `Timeout-Seconds` (the curl recipe). Off by default; no flag.
    pub out_ends_after_turn: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 8787,
            secret_key: DEFAULT_SECRET_KEY.into(),
            token_ttl_secs: 3600,
            faults: false,
            www: None,
            db: None,
            chunk_delay_ms: 20,
            run_boot_ms: 0,
            idle_timeout_secs: 30,
            max_stream_secs: 600,
            ping_interval: Duration::from_secs(5),
            limits: store::Limits::default(),
            max_out_connections: 1000,
            api_target: client::ApiTarget::Local,
            task_id: DEMO_TASK_ID.into(),
            out_cut_bytes: None,
            clock: util::now_ms,
            out_ends_after_turn: false,
        }
    }
}

/// Shared server state.
pub struct AppState {
    pub config: Config,
    pub store: store::Store,
    pub db: Arc<app_db::Db>,
    /// What runs execute (the scripted agent).
    pub task: runs::TaskFn,
    pub faults: faults::Faults,
    pub open_out: AtomicU64,
    pub appends: AtomicU64,
    pub append_requests: AtomicU64,
    /// Runs of the scripted agent currently alive.
    pub live_runs: AtomicU64,
    /// Flips to true when the server starts shutting down; streams end early.
    pub closing: tokio::sync::watch::Sender<bool>,
}

pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(config: Config) -> Result<Shared, String> {
        let db = Arc::new(app_db::Db::open_with_clock(
            config.db.as_deref(),
            config.clock,
        )?);
        let task = agent::task(
            db.clone(),
            agent::AgentConfig {
                chunk_delay_ms: config.chunk_delay_ms,
                run_boot_ms: config.run_boot_ms,
            },
        );
        let faults = faults::Faults::default();
        faults.set_out_cut(config.out_cut_bytes);
        Ok(Arc::new(AppState {
            store: store::Store::with_clock(config.limits, config.clock),
            config,
            db,
            task,
            faults,
            open_out: AtomicU64::new(0),
            appends: AtomicU64::new(0),
            append_requests: AtomicU64::new(0),
            live_runs: AtomicU64::new(0),
            closing: tokio::sync::watch::channel(false).0,
        }))
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The Trigger.dev API routes alone (what the app server calls in-process).
pub fn api_router(state: Shared) -> Router {
    api_routes().with_state(state)
}

/// The API routes, without their state.
pub fn api_routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/sessions", post(api::create_session))
        .route("/api/v1/sessions/{id}", get(api::get_session))
        .route("/api/v1/sessions/{id}/close", post(api::close_session))
        .route("/api/v1/auth/jwt/claims", post(api::jwt_claims))
        .route("/realtime/v1/sessions/{id}/in/append", post(api::append))
        .route("/realtime/v1/sessions/{id}/out", get(sse::subscribe))
        .method_not_allowed_fallback(web::method_not_allowed)
}

/// Builds the whole HTTP application: the API (unless the app server talks to a
/// remote one), the demo app server, the fault controls, the page.
pub fn router(state: Shared) -> Router {
    let mut r = Router::new()
        .route("/app/config", get(app::config))
        .route("/app/chats", get(app::list_chats))
        .route(
            "/app/chats/{chat_id}",
            get(app::get_chat).delete(app::delete_chat),
        )
        .route("/app/chats/{chat_id}/start", post(app::start_chat))
        .route("/app/chats/{chat_id}/token", post(app::mint_token))
        .route("/app/chats/{chat_id}/session", put(app::put_session))
        .route("/app/chats/{chat_id}/messages", put(app::put_messages))
        .route("/app/chats/{chat_id}/transcript", get(app::get_transcript))
        .route("/app/head-start", post(app::head_start));
    if let client::ApiTarget::Local = state.config.api_target {
        r = r.merge(api_routes());
    }
    if state.config.faults {
        r = r.merge(faults::routes());
    }
    r.fallback(web::fallback)
        .method_not_allowed_fallback(web::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::delay_layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web::cors_layer,
        ))
        .with_state(state)
}

/// A running server (used by the binary and by tests).
pub struct Running {
    pub addr: SocketAddr,
    pub state: Shared,
    pub shutdown: tokio::sync::oneshot::Sender<()>,
    pub handle: tokio::task::JoinHandle<()>,
}

/// Binds and serves until `shutdown` fires.
pub async fn start(config: Config) -> Result<Running, String> {
    let bind = format!("{}:{}", config.host, config.port);
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot bind {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let state = AppState::new(config)?;
    let app = router(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
                let _ = st.closing.send(true);
            })
            .await;
    });
    Ok(Running {
        addr,
        state,
        shutdown: tx,
        handle,
    })
}
