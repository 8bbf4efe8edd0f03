//! The per-process HTTP control plane, on hyper (HTTP/1.1) and axum
//! (routing, bodies, JSON): the maintained, fuzzed stack, not a parser of
//! our own. Three tiers, by who may call them:
//!
//! | route | tier | answer |
//! |---|---|---|
//! | `GET /health` | public | `200 ok` while every local node runs and none is stalled, else `503` naming it |
//! | `GET /ready` | public | `200` while every local node is connected to a quorum of the cluster, else `503` |
//! | `GET /metrics` | public | OpenMetrics text |
//! | `GET /state` | observer | JSON: every local node's state (`debug` and postcard as hex) |
//! | `GET /recorded` | observer | JSON: recorded samples by metric (count, sum, recent window) |
//! | `GET /faults` | observer | JSON: the fault rules in force |
//! | `POST /faults` | operator | replace the fault rules with the JSON list in the body |
//!
//! A privileged request (observer or operator) must carry
//! `Authorization: Bearer <token>`, where the token is derived from the
//! cluster secret and the tier ([`Credentials`]; `prophet http-token`
//! prints it), and a `Host` this cluster answers to (an IP literal,
//! `localhost`, a host name of the cluster file, or one listed in
//! `[http] allowed_hosts`); a request with an `Origin` must come from that
//! same host (a web page elsewhere cannot use a browser as its proxy), and a
//! `POST` must say `Content-Type: application/json` (a cross-site form
//! cannot). The endpoint binds loopback unless the cluster file sets
//! `[http] expose = true`.
//!
//! Resources: at most [`CONNECTIONS_MAX`] connections at once (more are
//! closed at accept and counted), one request per connection, headers within
//! [`REQUEST_TIMEOUT`], bodies within [`REQUEST_BYTES_MAX`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::auth::{Secret, hex};
use crate::dashboard::{Dashboard, Lease};
use crate::executor::NodeSnapshot;
use crate::faults::{FaultRule, FaultTable};
use crate::metrics::{Registry, Rejection};

/// Largest request body accepted.
pub const REQUEST_BYTES_MAX: usize = 64 * 1024;

/// How long a client may take to send its request head, and the longest a
/// connection lives.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections served at once; more are closed at accept.
pub const CONNECTIONS_MAX: usize = 64;

/// A node whose inbox holds work and that has run no handler for this long
/// is reported stalled by `/health`.
pub const STALL_AFTER: Duration = Duration::from_secs(5);

/// Asks every local node for its state.
pub type SnapshotFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Vec<NodeSnapshot>> + Send>> + Send + Sync>;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Anyone who reaches the port: health, readiness, metrics.
    Public,
    /// Reads states, samples and fault rules.
    Observer,
    /// Also changes fault rules (and, later, steers).
    Operator,
}

impl Tier {
    /// Its name, as `prophet http-token --tier` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Public => "public",
            Tier::Observer => "observer",
            Tier::Operator => "operator",
        }
    }
}

/// The bearer tokens of a cluster, one per privileged tier, each an
/// HMAC-SHA256 of the cluster secret over the tier and the cluster id: whoever
/// holds the secret can derive them (`prophet http-token`), and a token
/// reveals nothing about the secret or the other tier's token. They change
/// when the secret does.
#[derive(Clone)]
pub struct Credentials {
    observer: String,
    operator: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

impl Credentials {
    /// The tokens of cluster `cluster` with secret `secret`.
    pub fn derive(secret: &Secret, cluster: &str) -> Credentials {
        Credentials {
            observer: hex(&secret.derive("prophet/1 http observer", cluster)),
            operator: hex(&secret.derive("prophet/1 http operator", cluster)),
        }
    }

    /// The token of `tier` (`None` for the public tier, which needs none).
    pub fn token(&self, tier: Tier) -> Option<&str> {
        match tier {
            Tier::Public => None,
            Tier::Observer => Some(&self.observer),
            Tier::Operator => Some(&self.operator),
        }
    }

    /// The tier `presented` grants (the operator's token also grants what
    /// an observer may do), compared in constant time.
    pub(crate) fn grants(&self, presented: &str) -> Tier {
        if same(presented, &self.operator) {
            Tier::Operator
        } else if same(presented, &self.observer) {
            Tier::Observer
        } else {
            Tier::Public
        }
    }
}

/// Constant-time equality of two tokens (their lengths are public).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Which `Host` values the endpoint answers privileged requests for.
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts(BTreeSet<String>);

impl AllowedHosts {
    /// IP literals and `localhost` always; plus `names` (lower case, without
    /// ports): the cluster file's host names and `[http] allowed_hosts`.
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        AllowedHosts(names.into_iter().map(|n| n.to_ascii_lowercase()).collect())
    }

    /// Whether `host` (a `Host` header value, maybe with a port) is ours.
    pub fn allows(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        name == "localhost" || name.parse::<std::net::IpAddr>().is_ok() || self.0.contains(&name)
    }
}

/// The name part of `host[:port]` or `[v6]:port`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// What the endpoint serves.
pub struct HttpState {
    /// The process's counters.
    pub metrics: Arc<Registry>,
    /// The process's fault rules.
    pub faults: Arc<FaultTable>,
    /// The process's decision log.
    pub journal: Arc<crate::journal::Journal>,
    /// The local nodes' online performance models.
    pub models: Arc<crate::models::Models>,
    /// State snapshots.
    pub snapshots: SnapshotFn,
    /// Nodes in the cluster (to validate fault rules, and for quorums).
    pub cluster_nodes: usize,
    /// The nodes this process hosts.
    pub local: Vec<u32>,
    /// Tokens of the privileged tiers.
    pub credentials: Credentials,
    /// Host names privileged requests may name.
    pub hosts: AllowedHosts,
    /// Per node: the handler count last seen, and since when it has not
    /// changed while work waited (for `/health`).
    pub progress: Mutex<BTreeMap<u32, (u64, Instant)>>,
}

impl HttpState {
    /// Local nodes that have work waiting and have run no handler for
    /// [`STALL_AFTER`].
    fn stalled(&self) -> Vec<u32> {
        self.stalled_at(Instant::now())
    }

    fn stalled_at(&self, now: Instant) -> Vec<u32> {
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        let mut stalled = Vec::new();
        for &id in &self.local {
            let stats = self.metrics.node(id);
            let handled = stats.handlers.load(Ordering::Relaxed);
            let waiting = stats.inbox_depth.load(Ordering::Relaxed) > 0;
            let seen = progress.entry(id).or_insert((handled, now));
            if seen.0 != handled || !waiting {
                *seen = (handled, now);
            } else if now.duration_since(seen.1) >= STALL_AFTER {
                stalled.push(id);
            }
        }
        stalled
    }

    /// Local nodes connected (themselves included) to fewer than a majority
    /// of the cluster: nodes of this process count as connected.
    fn unready(&self) -> Vec<u32> {
        let quorum = self.cluster_nodes / 2 + 1;
        self.local
            .iter()
            .copied()
            .filter(|&id| {
                let mut peers: BTreeSet<u32> = self.metrics.connected_peers(id);
                peers.extend(self.local.iter().copied());
                peers.insert(id);
                peers.len() < quorum
            })
            .collect()
    }
}

/// Serves `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>) {
    let metrics = Arc::clone(&state.metrics);
    serve_app(listener, router(state), metrics).await;
}

/// Serves `app` on `listener` until the task is aborted, within the limits
/// above; a connection a route marks as streaming ([`Lease`]) lives up to
/// [`STREAM_FOR`](crate::dashboard::STREAM_FOR) instead of
/// [`REQUEST_TIMEOUT`]. Refusals are counted in `metrics`.
pub async fn serve_app(listener: TcpListener, app: Router, metrics: Arc<Registry>) {
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off, never exit.
                warn!(%error, "http accept failed; backing off");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            debug!(%peer, "http: too many connections; closing");
            metrics.reject(Rejection::HttpBusy);
            continue;
        };
        let lease = Lease::default();
        let service = hyper_util::service::TowerToHyperService::new(
            app.clone().layer(axum::Extension(lease.clone())),
        );
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .keep_alive(false);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let mut outcome = tokio::time::timeout(REQUEST_TIMEOUT, &mut conn).await;
            if outcome.is_err() && lease.streaming() {
                let rest =
                    crate::dashboard::STREAM_FOR.saturating_sub(REQUEST_TIMEOUT) + REQUEST_TIMEOUT;
                outcome = tokio::time::timeout(rest, &mut conn).await;
            }
            match outcome {
                Ok(Err(error)) => debug!(%peer, %error, "http connection failed"),
                Err(_) => debug!(%peer, "http connection timed out"),
                Ok(Ok(())) => {}
            }
            drop(permit);
        });
    }
}

/// The routes, with their state: the control plane's and the dashboard's.
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/state", get(node_states))
        .route("/recorded", get(recorded))
        .route("/decisions", get(decisions))
        .route("/model", get(model))
        .route("/faults", get(faults).post(set_faults))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "routes: /health /ready /metrics /state /recorded /decisions /model /faults \
                 /ui/ (the dashboard)\n",
            )
        })
        .layer(DefaultBodyLimit::max(REQUEST_BYTES_MAX))
        .with_state(Arc::clone(&state))
        .merge(crate::dashboard::router(Arc::new(node_dashboard(state))))
}

/// The dashboard of this process: its nodes, their links and its faults.
fn node_dashboard(state: Arc<HttpState>) -> Dashboard {
    let title = format!("node {}", list(&state.local));
    let mut dashboard = Dashboard::new(
        title,
        state.credentials.clone(),
        state.hosts.clone(),
        Arc::clone(&state.metrics),
    );
    let viewed = Arc::clone(&state);
    dashboard.view = Some(Arc::new(move || {
        let state = Arc::clone(&viewed);
        Box::pin(async move { node_view(&state).await })
    }));
    dashboard.faults = Some(Arc::new(move |rules| {
        let state = Arc::clone(&state);
        Box::pin(async move { replace_faults(&state, rules) })
    }));
    dashboard
}

fn list(ids: &[u32]) -> String {
    ids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decisions and outcomes a view carries, the most recent.
pub const VIEW_DECISIONS: usize = 200;

/// Samples per metric a view carries, the most recent.
pub const VIEW_SAMPLES: usize = 200;

/// What the dashboard shows of this process: its nodes (up, handlers run,
/// inbox, state), every link to or from them (connected, seen from the
/// sending end only; counters, queue, the kernel's smoothed RTT), the fault
/// rules, recent samples per metric, the recent decisions and each node's
/// online performance model.
pub async fn node_view(state: &HttpState) -> serde_json::Value {
    let snapshots = (state.snapshots)().await;
    let nodes: Vec<serde_json::Value> = state
        .local
        .iter()
        .map(|&id| {
            let stats = state.metrics.node(id);
            let snapshot = snapshots.iter().find(|s| s.id == id);
            let timed = stats.handlers_timed.load(Ordering::Relaxed);
            let ns = stats.handler_ns.load(Ordering::Relaxed);
            serde_json::json!({
                "id": id,
                "status": if stats.up.load(Ordering::Relaxed) > 0 { "up" } else { "down" },
                "handled": stats.handlers.load(Ordering::Relaxed),
                "inbox": stats.inbox_depth.load(Ordering::Relaxed),
                "handler_mean_us": (timed > 0).then(|| ns as f64 / timed as f64 / 1e3),
                "state": snapshot.map(|s| s.debug.clone()),
            })
        })
        .collect();
    let links: Vec<serde_json::Value> = state
        .metrics
        .links()
        .into_iter()
        .map(|((from, to), l)| {
            let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            let rtt = l.rtt_us.load(Ordering::Relaxed);
            // The sending end owns the connection: a link that only arrives
            // here is seen from its receiving end, which cannot tell.
            let sends = state.local.contains(&from);
            serde_json::json!({
                "from": from, "to": to,
                "side": if sends { "out" } else { "in" },
                "connected": sends.then(|| l.connected.load(Ordering::Relaxed) > 0),
                "sent_msgs": get(&l.sent_msgs), "sent_bytes": get(&l.sent_bytes),
                "recv_msgs": get(&l.recv_msgs), "recv_bytes": get(&l.recv_bytes),
                "dropped": get(&l.dropped_fault) + get(&l.dropped_queue) + get(&l.dropped_conn),
                "queue": l.queue_depth.load(Ordering::Relaxed),
                "spooled": l.spooled.load(Ordering::Relaxed),
                "rtt_ms": (rtt > 0).then(|| rtt as f64 / 1e3),
            })
        })
        .collect();
    let recorded: serde_json::Map<String, serde_json::Value> = state
        .metrics
        .recorded()
        .into_iter()
        .map(|(metric, s)| {
            let skip = s.window.len().saturating_sub(VIEW_SAMPLES);
            let recent: Vec<f64> = s.window.iter().skip(skip).copied().collect();
            (
                metric,
                serde_json::json!({ "count": s.count, "sum": s.sum, "recent": recent }),
            )
        })
        .collect();
    let journal = state.journal.recent();
    let lines: Vec<&str> = journal.lines().collect();
    let decisions: Vec<serde_json::Value> = lines[lines.len().saturating_sub(VIEW_DECISIONS)..]
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    serde_json::json!({
        "source": "node",
        "local": state.local,
        "cluster_nodes": state.cluster_nodes,
        "nodes": nodes,
        "links": links,
        "faults": state.faults.rules(),
        "recorded": recorded,
        "decisions": decisions,
        "decisions_logged": state.journal.written(),
        "models": state.models.snapshots(),
    })
}

/// Validates and installs fault rules (what `POST /faults` does); the error
/// names the rule and field.
pub fn replace_faults(state: &HttpState, rules: Vec<FaultRule>) -> Result<(), String> {
    for (i, rule) in rules.iter().enumerate() {
        if let Err((field, message)) = rule.validate(state.cluster_nodes) {
            return Err(format!("[{i}].{field}: {message}"));
        }
    }
    info!(?rules, "fault rules replaced");
    state.faults.replace(rules);
    Ok(())
}

type Shared = State<Arc<HttpState>>;

/// A refusal, counted, with a reason the caller can act on.
fn deny(state: &HttpState, status: StatusCode, why: &str) -> Response {
    state.metrics.reject(Rejection::HttpDenied);
    (status, format!("{why}\n")).into_response()
}

/// Checks a privileged request: credential, `Host`, `Origin`.
fn guard(state: &HttpState, headers: &HeaderMap, tier: Tier) -> Result<(), Box<Response>> {
    admit(
        &state.credentials,
        &state.hosts,
        &state.metrics,
        headers,
        tier,
    )
    .map(|_| ())
}

/// The credential a request presents: `Authorization: Bearer`, else the
/// dashboard's cookie.
fn presented(headers: &HeaderMap) -> Option<&str> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(bearer) = text(header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(bearer.trim());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == crate::dashboard::COOKIE).then_some(value.trim())
        })
}

/// Checks a request to `tier` (for the public tier only `Host` and
/// `Origin`): the tier its credential grants, or the refusal to send,
/// counted in `metrics`.
pub(crate) fn admit(
    credentials: &Credentials,
    hosts: &AllowedHosts,
    metrics: &Registry,
    headers: &HeaderMap,
    tier: Tier,
) -> Result<Tier, Box<Response>> {
    let deny = |status: StatusCode, why: &str| {
        metrics.reject(Rejection::HttpDenied);
        Err(Box::new((status, format!("{why}\n")).into_response()))
    };
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(host) = text(header::HOST) else {
        return deny(StatusCode::BAD_REQUEST, "a Host header is required");
    };
    if !hosts.allows(host) {
        return deny(
            StatusCode::FORBIDDEN,
            "Host is not a name of this cluster (add it to [http] allowed_hosts)",
        );
    }
    if let Some(origin) = text(header::ORIGIN) {
        let same_origin = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host));
        if !same_origin {
            return deny(StatusCode::FORBIDDEN, "cross-origin requests are refused");
        }
    }
    let presented = presented(headers);
    let granted = presented.map_or(Tier::Public, |p| credentials.grants(p));
    if granted >= tier {
        return Ok(granted);
    }
    let why = match presented {
        None => format!(
            "{} token required: Authorization: Bearer <token> (`prophet http-token`)",
            tier.name()
        ),
        Some(_) => format!("the token does not grant the {} tier", tier.name()),
    };
    deny(StatusCode::UNAUTHORIZED, &why)
}

async fn health(State(state): Shared) -> Response {
    if !state.metrics.all_up() {
        return (StatusCode::SERVICE_UNAVAILABLE, "a node is down\n").into_response();
    }
    let stalled = state.stalled();
    if !stalled.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "stalled: node(s) {stalled:?} have work waiting and ran no handler for {} s\n",
                STALL_AFTER.as_secs()
            ),
        )
            .into_response();
    }
    (StatusCode::OK, "ok\n").into_response()
}

async fn ready(State(state): Shared) -> Response {
    let unready = state.unready();
    if unready.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not connected to a quorum: node(s) {unready:?}\n"),
        )
            .into_response()
    }
}

async fn metrics(State(state): Shared) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

fn json(value: &serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn node_states(State(state): Shared, headers: HeaderMap) -> Response {
    if let Err(refused) = guard(&state, &headers, Tier::Observer) {
        return *refused;
    }
    let nodes: Vec<serde_json::Value> = (state.snapshots)()
        .await
        .into_iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id, "debug": s.debug, "state": hex(&s.state), "handled": s.handled,
            })
        })
        .collect();
    json(&serde_json::json!({ "nodes": nodes }))
}

/// The most recent decisions and outcomes of the process's nodes, as the
/// JSON lines of a decision log (`prophet evaluate` reads them).
async fn decisions(State(state): Shared, headers: HeaderMap) -> Response {
    if let Err(refused) = guard(&state, &headers, Tier::Observer) {
        return *refused;
    }
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (
                header::HeaderName::from_static("x-prophet-lines-logged"),
                state.journal.written().to_string(),
            ),
            (
                header::HeaderName::from_static("x-prophet-lines-dropped"),
                state.journal.dropped().to_string(),
            ),
        ],
        state.journal.recent(),
    )
        .into_response()
}

/// Each local node's online performance model, as JSON (what
/// `prophet sim --model-out` writes per run).
async fn model(State(state): Shared, headers: HeaderMap) -> Response {
    if let Err(refused) = guard(&state, &headers, Tier::Observer) {
        return *refused;
    }
    axum::Json(serde_json::json!({ "nodes": state.models.snapshots() })).into_response()
}

async fn recorded(State(state): Shared, headers: HeaderMap) -> Response {
    if let Err(refused) = guard(&state, &headers, Tier::Observer) {
        return *refused;
    }
    let recorded: serde_json::Map<String, serde_json::Value> = state
        .metrics
        .recorded()
        .into_iter()
        .map(|(k, s)| {
            (
                k,
                serde_json::json!({ "count": s.count, "sum": s.sum, "window": s.window }),
            )
        })
        .collect();
    json(&serde_json::Value::Object(recorded))
}

async fn faults(State(state): Shared, headers: HeaderMap) -> Response {
    if let Err(refused) = guard(&state, &headers, Tier::Observer) {
        return *refused;
    }
    json(&serde_json::to_value(state.faults.rules()).unwrap_or_default())
}

async fn set_faults(State(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = guard(&state, &headers, Tier::Operator) {
        return *refused;
    }
    if !crate::dashboard::is_json(&headers) {
        return deny(
            &state,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let rules = match serde_json::from_slice::<Vec<FaultRule>>(&body) {
        Ok(rules) => rules,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    };
    match replace_faults(&state, rules) {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    }
}

/// A minimal HTTP/1.1 client for the routes above, on hyper: `(status,
/// body)`. `token` goes in `Authorization: Bearer`; a body is sent as
/// JSON. Used by the CLI and the tests; bounded by [`REQUEST_TIMEOUT`].
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> Result<(u16, String), String> {
    tokio::time::timeout(REQUEST_TIMEOUT, async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        tokio::spawn(conn);
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, addr);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if !body.is_empty() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{addr}: {e}"))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).to_string()))
    })
    .await
    .map_err(|_| format!("{addr}: timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_ip_literals_localhost_or_named() {
        let hosts = AllowedHosts::new(["Node0".to_string()]);
        for ok in [
            "127.0.0.1:9000",
            "localhost",
            "LOCALHOST:80",
            "[::1]:9000",
            "node0:9000",
            "10.0.0.7",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in ["evil.example:9000", "node1", "127.0.0.1.evil.example", ""] {
            assert!(!hosts.allows(refused), "{refused}");
        }
    }

    fn state(local: Vec<u32>, cluster_nodes: usize) -> HttpState {
        let secret = Secret::new((0u8..32).collect()).expect("long enough");
        HttpState {
            metrics: Arc::new(Registry::default()),
            faults: Arc::new(FaultTable::new(Vec::new(), 0)),
            journal: crate::journal::Journal::in_memory(),
            models: Arc::new(crate::models::Models::new(&[0])),
            snapshots: Arc::new(|| Box::pin(async { Vec::new() })),
            cluster_nodes,
            local,
            credentials: Credentials::derive(&secret, "t"),
            hosts: AllowedHosts::default(),
            progress: Mutex::default(),
        }
    }

    #[test]
    fn a_node_with_work_waiting_and_no_handler_run_is_stalled() {
        let s = state(vec![0, 1], 3);
        let t0 = Instant::now();
        s.metrics.node(0).inbox_depth.store(3, Ordering::Relaxed);
        assert!(s.stalled_at(t0).is_empty());
        assert!(s.stalled_at(t0 + STALL_AFTER / 2).is_empty());
        // Node 1 is idle (nothing waits): never stalled.
        assert_eq!(s.stalled_at(t0 + STALL_AFTER), [0]);
        // A handler ran: progress again.
        s.metrics.node(0).handlers.fetch_add(1, Ordering::Relaxed);
        assert!(s.stalled_at(t0 + STALL_AFTER * 2).is_empty());
    }

    #[test]
    fn readiness_needs_a_quorum_of_the_cluster_counting_local_nodes() {
        // Nodes 0 and 1 of 5 here: two of five is no quorum.
        let s = state(vec![0, 1], 5);
        assert_eq!(s.unready(), [0, 1]);
        // Node 0 connects to node 3: {0, 1, 3} is a quorum for node 0 only.
        s.metrics.link(0, 3).connected.store(1, Ordering::Relaxed);
        assert_eq!(s.unready(), [1]);
        s.metrics.link(1, 4).connected.store(1, Ordering::Relaxed);
        assert!(s.unready().is_empty());
    }

    #[test]
    fn tokens_differ_by_tier_cluster_and_secret_and_grant_in_order() {
        let secret = Secret::new((0u8..32).collect()).expect("long enough");
        let a = Credentials::derive(&secret, "a");
        let b = Credentials::derive(&secret, "b");
        let other = Credentials::derive(&Secret::new((1u8..33).collect()).expect("ok"), "a");
        let observer = a.token(Tier::Observer).expect("token");
        let operator = a.token(Tier::Operator).expect("token");
        assert_ne!(observer, operator);
        assert_ne!(Some(observer), b.token(Tier::Observer));
        assert_ne!(Some(observer), other.token(Tier::Observer));
        assert_eq!(a.grants(operator), Tier::Operator);
        assert_eq!(a.grants(observer), Tier::Observer);
        assert_eq!(a.grants(""), Tier::Public);
        assert_eq!(a.grants(&observer[1..]), Tier::Public);
    }
}
