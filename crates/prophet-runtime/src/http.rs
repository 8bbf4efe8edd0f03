//! The per-process HTTP endpoint: a deliberately tiny HTTP/1.1 server (one
//! request per connection) for the few routes operators and tests need.
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | `200 ok` while every local node runs, else `503` |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /state` | JSON: every local node's state (`debug` and postcard as hex) |
//! | `GET /recorded` | JSON: recorded samples by metric (count, sum, recent window) |
//! | `GET /faults` | JSON: the fault rules in force |
//! | `POST /faults` | replace the fault rules with the JSON list in the body |

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::auth::hex;
use crate::executor::NodeSnapshot;
use crate::faults::{FaultRule, FaultTable};
use crate::metrics::Registry;

/// Largest request (head and body) accepted.
pub const REQUEST_BYTES_MAX: usize = 64 * 1024;

/// How long a client may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks every local node for its state.
pub type SnapshotFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Vec<NodeSnapshot>> + Send>> + Send + Sync>;

/// What the endpoint serves.
pub struct HttpState {
    /// The process's counters.
    pub metrics: Arc<Registry>,
    /// The process's fault rules.
    pub faults: Arc<FaultTable>,
    /// State snapshots.
    pub snapshots: SnapshotFn,
    /// Nodes in the cluster (to validate fault rules).
    pub cluster_nodes: usize,
}

/// Serves `listener` forever.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    if let Err(error) = handle(stream, &state).await {
                        debug!(%error, "http request failed");
                    }
                });
            }
            Err(error) => {
                warn!(%error, "http accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

async fn read_request(stream: &mut TcpStream) -> Result<Request, String> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if bytes.len() > REQUEST_BYTES_MAX {
            return Err("request head too large".into());
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the request head ended".into());
        }
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if length > REQUEST_BYTES_MAX {
        return Err("request body too large".into());
    }
    let mut body = bytes[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed inside the body".into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Request { method, path, body })
}

async fn handle(mut stream: TcpStream, state: &HttpState) -> Result<(), String> {
    let request = tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream))
        .await
        .map_err(|_| "request timed out".to_string())??;
    let (status, content_type, body) = route(&request, state).await;
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(response.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(body.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.shutdown().await;
    Ok(())
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

async fn route(request: &Request, state: &HttpState) -> (&'static str, &'static str, String) {
    let path = request.path.split('?').next().unwrap_or_default();
    match (request.method.as_str(), path) {
        ("GET", "/health") => {
            if state.metrics.all_up() {
                ("200 OK", TEXT, "ok\n".into())
            } else {
                ("503 Service Unavailable", TEXT, "a node is down\n".into())
            }
        }
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4",
            state.metrics.render(),
        ),
        ("GET", "/state") => {
            let nodes: Vec<serde_json::Value> = (state.snapshots)()
                .await
                .into_iter()
                .map(|s| {
                    serde_json::json!({
                        "id": s.id, "debug": s.debug, "state": hex(&s.state), "handled": s.handled,
                    })
                })
                .collect();
            (
                "200 OK",
                JSON,
                serde_json::json!({ "nodes": nodes }).to_string(),
            )
        }
        ("GET", "/recorded") => {
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
            (
                "200 OK",
                JSON,
                serde_json::Value::Object(recorded).to_string(),
            )
        }
        ("GET", "/faults") => (
            "200 OK",
            JSON,
            serde_json::to_string(&state.faults.rules()).unwrap_or_default(),
        ),
        ("POST", "/faults") => match serde_json::from_slice::<Vec<FaultRule>>(&request.body) {
            Ok(rules) => {
                for (i, rule) in rules.iter().enumerate() {
                    if let Err((field, message)) = rule.validate(state.cluster_nodes) {
                        return (
                            "400 Bad Request",
                            TEXT,
                            format!("[{i}].{field}: {message}\n"),
                        );
                    }
                }
                tracing::info!(?rules, "fault rules replaced");
                state.faults.replace(rules);
                ("200 OK", TEXT, "ok\n".into())
            }
            Err(error) => ("400 Bad Request", TEXT, format!("{error}\n")),
        },
        _ => (
            "404 Not Found",
            TEXT,
            "routes: /health /metrics /state /recorded /faults\n".into(),
        ),
    }
}

/// A minimal HTTP/1.1 client for the routes above: `(status, body)`.
/// Used by the CLI and the tests; bounded by [`REQUEST_TIMEOUT`].
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("{addr}: {e}"))?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response).to_string();
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no response head")?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("no status")?;
        Ok((status, body.to_string()))
    })
    .await
    .map_err(|_| format!("{addr}: timed out"))?
}
