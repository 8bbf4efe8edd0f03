//! The dashboard of `prophet run --dashboard`: the whole cluster in one
//! view, merged from every node process's own (`GET /ui/api/view`) with
//! what only the supervisor knows (which processes are down or restarting)
//! and what only the run computes (properties on the gathered states,
//! objectives and constraints over every node's samples). Fault rules set
//! on it go to every process.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use prophet::model::{Constraint, Objective};
use prophet::registry::PropertyStatus;
use prophet_runtime::dashboard::Dashboard;
use prophet_runtime::faults::FaultRule;
use prophet_runtime::http::{AllowedHosts, Credentials, request};
use prophet_runtime::metrics::Registry;

/// The latest cluster view, published by the run's report loop.
#[derive(Clone, Default)]
pub struct RunBoard(Arc<Mutex<serde_json::Value>>);

impl RunBoard {
    pub fn new() -> RunBoard {
        RunBoard(Arc::new(Mutex::new(serde_json::json!({
            "source": "run", "nodes": [], "links": [], "note": "waiting for the first report",
        }))))
    }

    pub fn publish(&self, view: serde_json::Value) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = view;
    }

    fn latest(&self) -> serde_json::Value {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Where fault rules set on the dashboard go: every process, with the
/// operator's token.
#[derive(Clone)]
pub struct Forward {
    pub http: Vec<String>,
    pub token: String,
}

impl Forward {
    async fn replace(&self, rules: Vec<FaultRule>) -> Result<(), String> {
        let body = serde_json::to_string(&rules).map_err(|e| e.to_string())?;
        let mut failed = Vec::new();
        for addr in &self.http {
            match request(addr, "POST", "/faults", &body, Some(&self.token)).await {
                Ok((200, _)) => {}
                Ok((status, why)) => failed.push(format!("{addr}: {status} {}", why.trim())),
                Err(why) => failed.push(why),
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "not applied everywhere (a process that is down keeps its rules): {}",
                failed.join("; ")
            ))
        }
    }
}

/// Binds `listen` and serves the run's dashboard there in the background;
/// returns the address bound.
pub async fn serve(
    listen: SocketAddr,
    system: &str,
    credentials: Credentials,
    board: RunBoard,
    forward: Forward,
) -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let metrics = Arc::new(Registry::default());
    let mut dashboard = Dashboard::new(
        format!("prophet run {system}"),
        credentials,
        AllowedHosts::default(),
        Arc::clone(&metrics),
    );
    dashboard.view = Some(Arc::new(move || {
        let view = board.latest();
        Box::pin(async move { view })
    }));
    dashboard.faults = Some(Arc::new(move |rules| {
        let forward = forward.clone();
        Box::pin(async move { forward.replace(rules).await })
    }));
    let app = prophet_runtime::dashboard::router(Arc::new(dashboard));
    tokio::spawn(prophet_runtime::http::serve_app(listener, app, metrics));
    Ok(addr)
}

/// Adds one process's counters of a link to `links`: both ends count the
/// link `from → to` (the sender what it sent, its queue and RTT; the
/// receiver what it received), so counters add up, the connection is the
/// sending end's (the receiving end reports null), and the RTT is the one
/// measured.
fn merge_link(links: &mut Vec<serde_json::Value>, link: &serde_json::Value) {
    let same = |l: &&mut serde_json::Value| l["from"] == link["from"] && l["to"] == link["to"];
    let Some(known) = links.iter_mut().find(same) else {
        links.push(link.clone());
        return;
    };
    for key in [
        "sent_msgs",
        "sent_bytes",
        "recv_msgs",
        "recv_bytes",
        "dropped",
        "queue",
        "spooled",
    ] {
        let sum = known[key].as_i64().unwrap_or(0) + link[key].as_i64().unwrap_or(0);
        known[key] = serde_json::json!(sum);
    }
    // Only the sending end knows the connection (the other says null).
    let ends = [known["connected"].as_bool(), link["connected"].as_bool()];
    let connected = ends.iter().flatten().copied().reduce(|a, b| a || b);
    known["connected"] = serde_json::json!(connected);
    if link["side"] == "out" {
        known["side"] = link["side"].clone();
    }
    if known["rtt_ms"].is_null() {
        known["rtt_ms"] = link["rtt_ms"].clone();
    }
}

/// What one report of the run knows.
pub struct Gathered<'a> {
    /// Each process's HTTP address.
    pub http: &'a [String],
    /// The observer's token.
    pub token: &'a str,
    /// The nodes of each process.
    pub ids: &'a [Vec<u32>],
    /// Processes the supervisor has seen go down and not yet restarted.
    pub down: &'a [usize],
    /// Whether down processes are restarted (`--restart`).
    pub restarting: bool,
    pub objectives: &'a [Objective],
    pub constraints: &'a [Constraint],
    pub properties: Option<&'a [PropertyStatus]>,
    pub objective_values: &'a [(String, String, Option<f64>)],
    pub constraint_values: &'a [(String, Option<f64>)],
    pub supervision: serde_json::Value,
    pub elapsed_s: f64,
}

/// The cluster's view: every process's own, merged, with the supervisor's
/// status of each node and the run's properties and objectives.
pub async fn cluster_view(g: &Gathered<'_>) -> serde_json::Value {
    let mut nodes = Vec::new();
    let mut links = Vec::new();
    let mut decisions = Vec::new();
    let mut models = Vec::new();
    let mut faults = serde_json::Value::Array(Vec::new());
    let mut recorded = serde_json::Map::new();
    for (p, addr) in g.http.iter().enumerate() {
        let down = g.down.contains(&p);
        let fetched = if down {
            None
        } else {
            match request(addr, "GET", "/ui/api/view", "", Some(g.token)).await {
                Ok((200, body)) => serde_json::from_str::<serde_json::Value>(&body).ok(),
                _ => None,
            }
        };
        let Some(view) = fetched else {
            let status = if down && g.restarting {
                "restarting"
            } else {
                "down"
            };
            for &id in &g.ids[p] {
                nodes.push(serde_json::json!({ "id": id, "status": status, "process": p }));
            }
            continue;
        };
        for mut node in view["nodes"].as_array().cloned().unwrap_or_default() {
            node["process"] = serde_json::json!(p);
            nodes.push(node);
        }
        for link in view["links"].as_array().into_iter().flatten() {
            merge_link(&mut links, link);
        }
        decisions.extend(view["decisions"].as_array().cloned().unwrap_or_default());
        models.extend(view["models"].as_array().cloned().unwrap_or_default());
        if let Some(map) = view["recorded"].as_object() {
            for (metric, value) in map {
                // Keep the recent samples of every process under one metric.
                let entry = recorded
                    .entry(metric.clone())
                    .or_insert_with(|| serde_json::json!({ "count": 0, "sum": 0.0, "recent": [] }));
                entry["count"] = serde_json::json!(
                    entry["count"].as_u64().unwrap_or(0) + value["count"].as_u64().unwrap_or(0)
                );
                entry["sum"] = serde_json::json!(
                    entry["sum"].as_f64().unwrap_or(0.0) + value["sum"].as_f64().unwrap_or(0.0)
                );
                if let (Some(all), Some(more)) =
                    (entry["recent"].as_array_mut(), value["recent"].as_array())
                {
                    all.extend(more.iter().cloned());
                }
            }
        }
        faults = view["faults"].clone();
    }
    nodes.sort_by_key(|n| n["id"].as_u64());
    links.sort_by_key(|l| (l["from"].as_u64(), l["to"].as_u64()));
    let objectives: Vec<serde_json::Value> = g
        .objectives
        .iter()
        .map(|o| {
            let value = g
                .objective_values
                .iter()
                .find(|(name, _, _)| *name == o.name)
                .and_then(|(_, _, v)| *v);
            serde_json::json!({
                "name": o.name, "metric": o.metric, "aggregate": o.aggregate,
                "direction": o.direction, "value": value,
            })
        })
        .collect();
    let constraints: Vec<serde_json::Value> = g
        .constraints
        .iter()
        .map(|c| {
            let value = g
                .constraint_values
                .iter()
                .find(|(name, _)| *name == c.name)
                .and_then(|(_, v)| *v);
            serde_json::json!({
                "name": c.name, "metric": c.metric, "aggregate": c.aggregate,
                "bound": c.bound, "at_most": c.at_most, "value": value,
            })
        })
        .collect();
    let cluster_nodes: usize = g.ids.iter().map(Vec::len).sum();
    serde_json::json!({
        "source": "run",
        "elapsed_s": g.elapsed_s,
        "cluster_nodes": cluster_nodes,
        "nodes": nodes,
        "links": links,
        "faults": faults,
        "recorded": recorded,
        "decisions": decisions,
        "models": models,
        "objectives": objectives,
        "constraints": constraints,
        "properties": g.properties,
        "supervision": g.supervision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_merged_from_both_ends_adds_counters_and_keeps_the_senders_connection() {
        let sender = serde_json::json!({
            "from": 0, "to": 1, "side": "out", "connected": false,
            "sent_msgs": 10, "sent_bytes": 100, "recv_msgs": 0, "recv_bytes": 0,
            "dropped": 1, "queue": 2, "spooled": 0, "rtt_ms": 0.2,
        });
        let receiver = serde_json::json!({
            "from": 0, "to": 1, "side": "in", "connected": null,
            "sent_msgs": 0, "sent_bytes": 0, "recv_msgs": 9, "recv_bytes": 90,
            "dropped": 0, "queue": 0, "spooled": 0, "rtt_ms": null,
        });
        for order in [[&receiver, &sender], [&sender, &receiver]] {
            let mut links = Vec::new();
            for link in order {
                merge_link(&mut links, link);
            }
            assert_eq!(links.len(), 1);
            let l = &links[0];
            assert_eq!(
                l["connected"], false,
                "the sender's word, not the receiver's null"
            );
            assert_eq!(l["side"], "out");
            assert_eq!(
                (l["sent_msgs"].as_i64(), l["recv_msgs"].as_i64()),
                (Some(10), Some(9))
            );
            assert_eq!(l["rtt_ms"].as_f64(), Some(0.2));
        }
        // A link seen only from its receiving end says nothing of its connection.
        let mut links = Vec::new();
        merge_link(&mut links, &receiver);
        assert!(links[0]["connected"].is_null());
    }
}
