//! The web dashboard: one page application (HTML, CSS and JavaScript
//! embedded in the binary, no CDN, no build step) and the JSON routes it
//! reads, on the same HTTP stack and credentials as the control plane.
//!
//! | route | tier | answer |
//! |---|---|---|
//! | `GET /ui/`, `/ui/app.js`, `/ui/app.css` | public | the page (it holds no data) |
//! | `POST /ui/login` | public | `{"token": T}` → a cookie holding `T`, `HttpOnly; SameSite=Strict` |
//! | `POST /ui/logout` | public | clears the cookie |
//! | `GET /ui/api/session` | public | the tier the request's credential grants, and what this server has |
//! | `GET /ui/api/view` | observer | the live cluster: nodes, links, faults, samples, decisions |
//! | `GET /ui/api/events` | observer | the same view as server-sent events, one a second |
//! | `GET /ui/api/artifacts` | observer | the files `prophet view` was given, parsed |
//! | `POST /ui/api/faults` | operator | replace the fault rules (JSON list, as `POST /faults`) |
//!
//! A browser obtains a credential once: the server prints a URL whose
//! fragment holds the token (`…/ui/#token=…`; a fragment never reaches a
//! server or a log), the page posts it to `/ui/login` and removes it from
//! the address bar, and from then on the cookie authenticates it. The
//! cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other
//! site's page sends it), and every privileged route also checks `Host` and
//! `Origin` as the control plane does; a `POST` must be JSON, which a
//! cross-site form cannot send. Every page answer carries a
//! `Content-Security-Policy` that allows only this server's own script.
//!
//! Who serves it: every node process on its HTTP endpoint (its own nodes and
//! links), `prophet run --dashboard` (the whole cluster, with the
//! supervisor's view of crashes and restarts), and `prophet view FILE…`
//! (check reports, simulation reports and decision logs, offline).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::Frame;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};

use crate::faults::FaultRule;
use crate::http::{AllowedHosts, Credentials, Tier, admit};
use crate::metrics::{Registry, Rejection};

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// The cookie that carries a browser's token.
pub const COOKIE: &str = "prophet_token";

/// How long the login cookie lasts.
const COOKIE_MAX_AGE_S: u64 = 12 * 3600;

/// Time between two views on an event stream.
pub const STREAM_PERIOD: Duration = Duration::from_secs(1);

/// How long one event stream lasts; the browser then reconnects (after the
/// `retry` the stream announces), so a stream never pins a connection for
/// long and a page that was closed without a goodbye frees it.
pub const STREAM_FOR: Duration = Duration::from_secs(60);

/// Event streams served at once (each holds one of the endpoint's
/// connections).
pub const STREAMS_MAX: usize = 8;

/// The largest artifact `prophet view` reads.
pub const ARTIFACT_BYTES_MAX: u64 = 512 << 20;

/// The policy every page answer carries: only this server's own script and
/// style, no frames, no form posts elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

/// Builds the live view (the JSON `GET /ui/api/view` answers).
pub type ViewFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = serde_json::Value> + Send>> + Send + Sync>;

/// Replaces the fault rules where the cluster runs.
pub type FaultsFn = Arc<
    dyn Fn(Vec<FaultRule>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// What kind of file an artifact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// `prophet check --json`: counts, violations and examples with traces.
    Check,
    /// `prophet sim --json`: objectives per policy, runs, counterexamples,
    /// steering.
    Sim,
    /// A decision log (`prophet sim --decisions`, `prophet run
    /// --log-decisions`): JSON lines of decisions and outcomes.
    Decisions,
    /// Performance models (`prophet sim --model-out`, `prophet run
    /// --model-out`), served as `{"runs": [{"seed", "nodes"}]}` (a live
    /// run's seed is null).
    Models,
}

/// A file `prophet view` serves, parsed.
#[derive(Clone, Debug, Serialize)]
pub struct Artifact {
    /// The file's name as given.
    pub name: String,
    /// What it holds.
    pub kind: ArtifactKind,
    /// Its content: the JSON document, or for a decision log the list of
    /// its lines.
    pub data: serde_json::Value,
}

impl Artifact {
    /// Reads and recognises `path`. The error names the file and says what
    /// was expected.
    pub fn load(path: &Path) -> Result<Artifact, String> {
        let name = path.display().to_string();
        let size = std::fs::metadata(path)
            .map_err(|e| format!("{name}: {e}"))?
            .len();
        if size > ARTIFACT_BYTES_MAX {
            return Err(format!(
                "{name}: {size} bytes; artifacts up to {ARTIFACT_BYTES_MAX} are served"
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
        Artifact::parse(name, &text)
    }

    /// Recognises `text`: a JSON document written by `prophet check --json`,
    /// `prophet sim --json` or `--model-out`, or the JSON lines of a
    /// decision log.
    pub fn parse(name: String, text: &str) -> Result<Artifact, String> {
        let expected = "expected the JSON of `prophet check --json`, `prophet sim --json` or \
                        `--model-out`, or a decision log (JSON lines)";
        if let Ok(data) = serde_json::from_str::<serde_json::Value>(text) {
            let has = |key: &str| data.get(key).is_some();
            let kind = if has("violations") && has("unique_states") {
                ArtifactKind::Check
            } else if has("results") && has("seeds") {
                ArtifactKind::Sim
            } else if has("nodes") && data["nodes"].is_array() {
                // `prophet run --model-out`: the nodes of one live run.
                let data =
                    serde_json::json!({ "runs": [{ "seed": null, "nodes": data["nodes"] }] });
                return Ok(Artifact {
                    name,
                    kind: ArtifactKind::Models,
                    data,
                });
            } else if data["runs"]
                .as_array()
                .is_some_and(|runs| runs.iter().all(|r| r["nodes"].is_array()))
            {
                // `prophet sim --model-out`: the nodes of every seed's run.
                ArtifactKind::Models
            } else if data.get("type").and_then(|t| t.as_str()) == Some("decision") {
                // A log of a single line.
                return Ok(Artifact {
                    name,
                    kind: ArtifactKind::Decisions,
                    data: serde_json::Value::Array(vec![data]),
                });
            } else {
                return Err(format!(
                    "{name}: a JSON document of no known kind; {expected}"
                ));
            };
            return Ok(Artifact { name, kind, data });
        }
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| format!("{name}:{}: {e}; {expected}", i + 1))?;
            if !matches!(
                value.get("type").and_then(|t| t.as_str()),
                Some("decision" | "outcome")
            ) {
                return Err(format!(
                    "{name}:{}: a line of a decision log has \"type\": \"decision\" or \
                     \"outcome\"; {expected}",
                    i + 1
                ));
            }
            lines.push(value);
        }
        if lines.is_empty() {
            return Err(format!("{name}: empty; {expected}"));
        }
        Ok(Artifact {
            name,
            kind: ArtifactKind::Decisions,
            data: serde_json::Value::Array(lines),
        })
    }
}

/// What one dashboard server serves.
pub struct Dashboard {
    /// Shown in the page's title bar: the system, or the files viewed.
    pub title: String,
    /// The live view; `None` offline (`prophet view`).
    pub view: Option<ViewFn>,
    /// Fault injection; `None` where there is no cluster to inject into.
    pub faults: Option<FaultsFn>,
    /// Files to show.
    pub artifacts: Vec<Artifact>,
    /// Tokens of the privileged tiers.
    pub credentials: Credentials,
    /// Host names privileged requests may name.
    pub hosts: AllowedHosts,
    /// Where refusals are counted.
    pub metrics: Arc<Registry>,
    streams: Arc<Semaphore>,
}

impl Dashboard {
    /// A dashboard with no live view and no artifacts yet.
    pub fn new(
        title: impl Into<String>,
        credentials: Credentials,
        hosts: AllowedHosts,
        metrics: Arc<Registry>,
    ) -> Dashboard {
        Dashboard {
            title: title.into(),
            view: None,
            faults: None,
            artifacts: Vec::new(),
            credentials,
            hosts,
            metrics,
            streams: Arc::new(Semaphore::new(STREAMS_MAX)),
        }
    }
}

/// Set on a connection by a route that streams, so the endpoint lets the
/// connection live for [`STREAM_FOR`] instead of the request timeout.
#[derive(Clone, Debug, Default)]
pub struct Lease(Arc<AtomicBool>);

impl Lease {
    /// Whether a route asked for a long-lived connection.
    pub fn streaming(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn extend(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The dashboard's routes, with their state.
pub fn router(dashboard: Arc<Dashboard>) -> Router {
    Router::new()
        .route("/", get(to_ui))
        .route("/ui", get(to_ui))
        .route("/ui/", get(index))
        .route("/ui/app.js", get(app_js))
        .route("/ui/app.css", get(app_css))
        .route("/ui/login", post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/api/session", get(session))
        .route("/ui/api/view", get(view))
        .route("/ui/api/events", get(events))
        .route("/ui/api/artifacts", get(artifacts))
        .route("/ui/api/faults", post(set_faults))
        .with_state(dashboard)
}

type Shared = State<Arc<Dashboard>>;

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

async fn to_ui() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/")]).into_response()
}

async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> Response {
    page("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    page("text/css; charset=utf-8", APP_CSS)
}

/// A JSON answer that no cache keeps.
fn private_json(value: &serde_json::Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        value.to_string(),
    )
        .into_response()
}

fn refuse(dashboard: &Dashboard, status: StatusCode, why: &str) -> Response {
    dashboard.metrics.reject(Rejection::HttpDenied);
    (status, format!("{why}\n")).into_response()
}

/// Whether a request says `Content-Type: application/json` (which a
/// cross-site form cannot send).
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// Checks a request to `tier`; on refusal, the answer to send.
fn gate(dashboard: &Dashboard, headers: &HeaderMap, tier: Tier) -> Result<Tier, Box<Response>> {
    admit(
        &dashboard.credentials,
        &dashboard.hosts,
        &dashboard.metrics,
        headers,
        tier,
    )
}

#[derive(serde::Deserialize)]
struct Login {
    token: String,
}

async fn login(State(d): Shared, headers: HeaderMap, body: Bytes) -> Response {
    // Host and Origin as for a privileged route: a page elsewhere cannot
    // log a browser in (nor out).
    if let Err(refused) = gate(&d, &headers, Tier::Public) {
        return *refused;
    }
    if !is_json(&headers) {
        return refuse(
            &d,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let Ok(Login { token }) = serde_json::from_slice::<Login>(&body) else {
        return (StatusCode::BAD_REQUEST, "expected {\"token\": \"…\"}\n").into_response();
    };
    let token = token.trim();
    let tier = d.credentials.grants(token);
    if tier == Tier::Public {
        return refuse(
            &d,
            StatusCode::UNAUTHORIZED,
            "the token grants no tier (`prophet http-token` prints this cluster's)",
        );
    }
    let cookie =
        format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_S}");
    let mut response = private_json(&serde_json::json!({ "tier": tier.name() }));
    match HeaderValue::from_str(&cookie) {
        Ok(value) => {
            response.headers_mut().insert(header::SET_COOKIE, value);
            response
        }
        Err(_) => (StatusCode::BAD_REQUEST, "the token is not a cookie value\n").into_response(),
    }
}

async fn logout(State(d): Shared, headers: HeaderMap) -> Response {
    if let Err(refused) = gate(&d, &headers, Tier::Public) {
        return *refused;
    }
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        )],
        "ok\n",
    )
        .into_response()
}

async fn session(State(d): Shared, headers: HeaderMap) -> Response {
    let tier = gate(&d, &headers, Tier::Public).unwrap_or(Tier::Public);
    private_json(&serde_json::json!({
        "tier": tier.name(),
        "title": d.title,
        "live": d.view.is_some(),
        "faults": d.faults.is_some(),
        "artifacts": d.artifacts.len(),
    }))
}

async fn view(State(d): Shared, headers: HeaderMap) -> Response {
    if let Err(refused) = gate(&d, &headers, Tier::Observer) {
        return *refused;
    }
    let Some(view) = &d.view else {
        return (
            StatusCode::NOT_FOUND,
            "no live cluster here: `prophet view` serves files only\n",
        )
            .into_response();
    };
    private_json(&view().await)
}

/// A body fed by a channel: one frame per message, ending when the sender
/// goes.
struct Channel(mpsc::Receiver<Bytes>);

impl hyper::body::Body for Channel {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

async fn events(State(d): Shared, headers: HeaderMap, lease: Option<Extension<Lease>>) -> Response {
    if let Err(refused) = gate(&d, &headers, Tier::Observer) {
        return *refused;
    }
    let Some(view) = d.view.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "no live cluster here: `prophet view` serves files only\n",
        )
            .into_response();
    };
    let Ok(permit) = Arc::clone(&d.streams).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{STREAMS_MAX} event streams are open; close a page\n"),
        )
            .into_response();
    };
    if let Some(Extension(lease)) = lease {
        lease.extend();
    }
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    tokio::spawn(async move {
        let _permit = permit;
        let until = tokio::time::Instant::now() + STREAM_FOR;
        let retry = format!("retry: {}\n\n", STREAM_PERIOD.as_millis());
        if tx.send(Bytes::from(retry)).await.is_err() {
            return;
        }
        let mut tick = tokio::time::interval(STREAM_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if tokio::time::Instant::now() >= until {
                break;
            }
            let event = format!("event: view\ndata: {}\n\n", view().await);
            if tx.send(Bytes::from(event)).await.is_err() {
                break;
            }
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::new(Channel(rx)),
    )
        .into_response()
}

async fn artifacts(State(d): Shared, headers: HeaderMap) -> Response {
    if let Err(refused) = gate(&d, &headers, Tier::Observer) {
        return *refused;
    }
    private_json(&serde_json::json!({ "artifacts": d.artifacts }))
}

async fn set_faults(State(d): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = gate(&d, &headers, Tier::Operator) {
        return *refused;
    }
    if !is_json(&headers) {
        return refuse(
            &d,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let Some(faults) = &d.faults else {
        return (
            StatusCode::NOT_FOUND,
            "no cluster to inject faults into here\n",
        )
            .into_response();
    };
    let rules = match serde_json::from_slice::<Vec<FaultRule>>(&body) {
        Ok(rules) => rules,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    };
    match faults(rules).await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends a raw request and returns what came back within `wait`.
    async fn exchange(addr: std::net::SocketAddr, request: String, wait: Duration) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        stream.write_all(request.as_bytes()).await.expect("sent");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn post(addr: std::net::SocketAddr, path: &str, extra: &str, body: &str) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{extra}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn get(addr: std::net::SocketAddr, path: &str, extra: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n")
    }

    #[tokio::test]
    async fn a_token_becomes_a_strict_http_only_cookie_that_opens_the_observer_routes() {
        let secret = crate::auth::Secret::new((0u8..32).collect()).expect("long enough");
        let credentials = Credentials::derive(&secret, "t");
        let observer = credentials
            .token(Tier::Observer)
            .expect("token")
            .to_string();
        let metrics = Arc::new(Registry::default());
        let mut dashboard = Dashboard::new(
            "test",
            credentials,
            AllowedHosts::default(),
            Arc::clone(&metrics),
        );
        dashboard.view = Some(Arc::new(|| {
            Box::pin(async { serde_json::json!({ "n": 7 }) })
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(crate::http::serve_app(
            listener,
            router(Arc::new(dashboard)),
            metrics,
        ));
        let wait = Duration::from_secs(2);
        // The page is public and carries the policy; the data is not.
        let page = exchange(addr, get(addr, "/ui/", ""), wait).await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(
            page.contains("content-security-policy: default-src 'none'"),
            "{page}"
        );
        let refused = exchange(addr, get(addr, "/ui/api/view", ""), wait).await;
        assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
        // A wrong token, a page of another origin, a form post: refused.
        let wrong = exchange(addr, post(addr, "/ui/login", "", r#"{"token":"x"}"#), wait).await;
        assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
        let login = format!(r#"{{"token":"{observer}"}}"#);
        let elsewhere = "Origin: http://evil.example\r\n";
        let cross = exchange(addr, post(addr, "/ui/login", elsewhere, &login), wait).await;
        assert!(cross.starts_with("HTTP/1.1 403"), "{cross}");
        let form = post(addr, "/ui/login", "", &login)
            .replace("application/json", "application/x-www-form-urlencoded");
        let form = exchange(addr, form, wait).await;
        assert!(form.starts_with("HTTP/1.1 415"), "{form}");
        // The token: a cookie no script reads and no other site sends.
        let ok = exchange(addr, post(addr, "/ui/login", "", &login), wait).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        let cookie = format!(
            "set-cookie: {COOKIE}={observer}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200"
        );
        assert!(ok.contains(&cookie), "{ok}");
        let with_cookie = format!("Cookie: other=1; {COOKIE}={observer}\r\n");
        let view = exchange(addr, get(addr, "/ui/api/view", &with_cookie), wait).await;
        assert!(
            view.starts_with("HTTP/1.1 200") && view.ends_with(r#"{"n":7}"#),
            "{view}"
        );
        // The observer may not inject faults.
        let faults = exchange(addr, post(addr, "/ui/api/faults", &with_cookie, "[]"), wait).await;
        assert!(faults.starts_with("HTTP/1.1 401"), "{faults}");
        // The event stream: the retry, then a view each period.
        let events = exchange(addr, get(addr, "/ui/api/events", &with_cookie), wait).await;
        assert!(events.contains("text/event-stream"), "{events}");
        assert!(events.contains("retry: 1000"), "{events}");
        assert!(events.contains("event: view\ndata: {\"n\":7}"), "{events}");
        server.abort();
    }

    #[test]
    fn artifacts_are_recognised_by_their_shape_and_junk_is_refused_with_the_line() {
        let check = r#"{"violations": [], "unique_states": 3, "examples": []}"#;
        let sim = r#"{"results": [], "seeds": [0], "system": "kv"}"#;
        let log = "{\"type\":\"decision\",\"id\":0}\n\n{\"type\":\"outcome\",\"id\":0}\n";
        let kind = |text: &str| Artifact::parse("f".into(), text).map(|a| a.kind);
        assert_eq!(kind(check), Ok(ArtifactKind::Check));
        assert_eq!(kind(sim), Ok(ArtifactKind::Sim));
        assert_eq!(kind(log), Ok(ArtifactKind::Decisions));
        assert_eq!(
            Artifact::parse("f".into(), log).map(|a| a.data.as_array().map(Vec::len)),
            Ok(Some(2))
        );
        // Both model files, as one shape: runs of nodes.
        let sim_models = r#"{"runs": [{"seed": 1, "nodes": [{"node": 0}]}], "models_max": 1024}"#;
        let run_models = r#"{"nodes": [{"node": 0}, {"node": 1}]}"#;
        for (text, seed, nodes) in [(sim_models, Some(1), 1), (run_models, None, 2)] {
            let models = Artifact::parse("m".into(), text).expect("models");
            assert_eq!(models.kind, ArtifactKind::Models);
            assert_eq!(models.data["runs"][0]["seed"].as_u64(), seed);
            assert_eq!(
                models.data["runs"][0]["nodes"].as_array().map(Vec::len),
                Some(nodes)
            );
        }
        let bad = kind("{\"type\":\"decision\"}\nnot json\n").expect_err("refused");
        assert!(bad.starts_with("f:2: "), "{bad}");
        let other = kind("{\"type\":\"decision\"}\n{\"type\":\"x\"}\n").expect_err("refused");
        assert!(other.starts_with("f:2: "), "{other}");
        assert!(kind("{\"a\": 1}").is_err());
        assert!(kind("").is_err());
    }
}
