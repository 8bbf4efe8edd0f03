//! Multi-host tests: each node in its own Docker container on a private
//! network, started and torn down by the test itself. The image is the
//! statically linked `prophet` binary alone (`FROM scratch`); it is built
//! from `$PROPHET_STATIC_BIN` if set, else with cargo into its own target dir.
//!
//! The test process talks to the nodes only through their HTTP ports
//! published on 127.0.0.1; node-to-node traffic stays on the Docker network.
//! Without a usable Docker daemon each test prints why and returns: it is
//! reported as skipped in its output, never as having checked anything.
//! Every wait is a poll bounded in count.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use prophet::registry::Purpose;
use prophet_runtime::auth::{Secret, unhex};

const IMAGE: &str = "prophet-live-test:latest";

/// Docker tests run one at a time (two cores, shared image).
static SERIAL: Mutex<()> = Mutex::new(());

fn docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Why Docker tests cannot run here, if they cannot.
fn docker_unavailable() -> Option<String> {
    docker(&["info", "--format", "{{.ServerVersion}}"]).err()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn static_binary() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("PROPHET_STATIC_BIN") {
        return Ok(PathBuf::from(path));
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"))
        .join("docker-static");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "x86_64-unknown-linux-gnu",
            "-p",
            "prophet-cli",
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("static build failed: {status}"));
    }
    Ok(target.join("x86_64-unknown-linux-gnu/release/prophet"))
}

fn image() -> Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let binary = static_binary()?;
            let context =
                std::env::temp_dir().join(format!("prophet-image-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&context);
            std::fs::create_dir_all(&context).map_err(|e| e.to_string())?;
            std::fs::copy(&binary, context.join("prophet"))
                .map_err(|e| format!("{}: {e}", binary.display()))?;
            std::fs::copy(
                workspace_root().join("deploy/Dockerfile"),
                context.join("Dockerfile"),
            )
            .map_err(|e| format!("deploy/Dockerfile: {e}"))?;
            let built = docker(&["build", "-q", "-t", IMAGE, context.to_str().unwrap_or(".")]);
            let _ = std::fs::remove_dir_all(&context);
            built.map(|_| ())
        })
        .clone()
}

/// A cluster of containers; removed (containers, network, files) on drop.
struct Cluster {
    name: String,
    subnet_prefix: String,
    dir: PathBuf,
    nodes: usize,
    http: Vec<String>,
    /// The observer's token for `/state` and `/recorded`.
    token: String,
    /// The operator's token for `POST /faults`.
    operator: String,
}

impl Cluster {
    fn container(&self, id: usize) -> String {
        format!("{}-n{id}", self.name)
    }

    fn ip(&self, id: usize) -> String {
        format!("{}.{}", self.subnet_prefix, 10 + id)
    }

    /// A private network and a scratch directory for `nodes` containers
    /// (none started yet).
    fn network(name: &str, nodes: usize) -> Result<Cluster, String> {
        let name = format!("pt-{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        // A /24 unlikely to collide with anything else on the host.
        let mut subnet_prefix = String::new();
        for attempt in 0..20u32 {
            let third = (std::process::id() + attempt * 7) % 250 + 1;
            let prefix = format!("10.213.{third}");
            if docker(&[
                "network",
                "create",
                "--subnet",
                &format!("{prefix}.0/24"),
                &name,
            ])
            .is_ok()
            {
                subnet_prefix = prefix;
                break;
            }
        }
        if subnet_prefix.is_empty() {
            return Err("cannot create a private network".into());
        }
        Ok(Cluster {
            name,
            subnet_prefix,
            dir,
            nodes,
            http: Vec::new(),
            token: String::new(),
            operator: String::new(),
        })
    }

    fn start(
        name: &str,
        system: &str,
        params: &str,
        nodes: usize,
        extra: &str,
    ) -> Result<Cluster, String> {
        let mut cluster = Cluster::network(name, nodes)?;
        let secret = Secret::generate_hex();
        (cluster.token, cluster.operator) = tokens(&secret, &cluster.name);
        let mut text = format!(
            "cluster = \"{}\"\nsystem = \"{system}\"\nparams = {{ {params} }}\nsecret = \"{secret}\"\ndata_dir = \"/data\"\n{extra}\n[http]\nexpose = true\n",
            cluster.name,
        );
        for id in 0..nodes {
            text.push_str(&format!(
                "[[nodes]]\nid = {id}\naddr = \"{}:7000\"\nlisten = \"0.0.0.0:7000\"\nhttp = \"0.0.0.0:9000\"\n",
                cluster.ip(id)
            ));
        }
        std::fs::write(cluster.dir.join("cluster.toml"), text).map_err(|e| e.to_string())?;
        for id in 0..nodes {
            let data = cluster.dir.join(format!("data-{id}"));
            std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
            docker(&[
                "run",
                "-d",
                "--name",
                &cluster.container(id),
                "--network",
                &cluster.name,
                "--ip",
                &cluster.ip(id),
                "-v",
                &format!("{}:/cluster:ro", cluster.dir.display()),
                "-v",
                &format!("{}:/data", data.display()),
                "-p",
                "127.0.0.1::9000",
                IMAGE,
                "node",
                "--config",
                "/cluster/cluster.toml",
                "--id",
                &id.to_string(),
            ])?;
            cluster.http.push(cluster.http_addr(id)?);
        }
        Ok(cluster)
    }

    fn http_addr(&self, id: usize) -> Result<String, String> {
        let port = docker(&["port", &self.container(id), "9000/tcp"])?;
        let line = port
            .lines()
            .find(|l| l.starts_with("127.0.0.1:"))
            .ok_or("no published port")?;
        Ok(line.to_string())
    }

    fn refresh_http(&mut self, id: usize) -> Result<(), String> {
        self.http[id] = self.http_addr(id)?;
        Ok(())
    }

    fn get(&self, id: usize, path: &str) -> Option<String> {
        http_get(&self.http[id], path, &self.token)
    }

    /// The postcard state of node `id`.
    fn state(&self, id: usize) -> Option<Vec<u8>> {
        let body = self.get(id, "/state")?;
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        json["nodes"][0]["state"].as_str().and_then(unhex)
    }

    fn recorded_count(&self, id: usize, metric: &str) -> u64 {
        self.get(id, "/recorded")
            .and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok())
            .and_then(|j| j[metric]["count"].as_u64())
            .unwrap_or(0)
    }

    fn metric_sum(&self, id: usize, prefix: &str) -> u64 {
        self.get(id, "/metrics")
            .map(|text| {
                text.lines()
                    .filter(|l| l.starts_with(prefix))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0)
    }

    fn logs(&self, id: usize) -> String {
        Command::new("docker")
            .args(["logs", &self.container(id)])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).to_string())
            .unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 0..self.nodes {
            let _ = docker(&["rm", "-f", &self.container(id)]);
        }
        let _ = docker(&["network", "rm", &self.name]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The observer's and the operator's tokens of cluster `cluster` with
/// secret `secret_hex`.
fn tokens(secret_hex: &str, cluster: &str) -> (String, String) {
    use prophet_runtime::http::{Credentials, Tier};
    let secret = unhex(secret_hex)
        .and_then(Secret::new)
        .expect("a valid secret");
    let credentials = Credentials::derive(&secret, cluster);
    let token = |tier| credentials.token(tier).unwrap_or_default().to_string();
    (token(Tier::Observer), token(Tier::Operator))
}

/// A bounded HTTP request over loopback with `token`: the body of a 200.
fn http(addr: &str, method: &str, path: &str, token: &str, body: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| body.to_string())
}

/// A bounded HTTP GET over loopback, with the observer's token.
fn http_get(addr: &str, path: &str, token: &str) -> Option<String> {
    http(addr, "GET", path, token, "")
}

/// Polls `check` every 100 ms, at most `tries` times.
fn eventually(tries: u32, mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..tries {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

macro_rules! require_docker {
    () => {
        if let Some(reason) = docker_unavailable() {
            // Written past the test harness's capture, so that a skip is
            // visible in a passing run; PROPHET_REQUIRE_DOCKER makes it fail.
            if std::env::var_os("PROPHET_REQUIRE_DOCKER").is_some() {
                panic!("Docker is required (PROPHET_REQUIRE_DOCKER) but unavailable: {reason}");
            }
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: Docker is unavailable: {reason}"
            );
            return;
        }
        if let Err(reason) = image() {
            panic!("Docker is available but the test image could not be built: {reason}");
        }
    };
}

fn kv_store(state: &[u8]) -> std::collections::BTreeMap<u64, prophet_systems::kv::Val> {
    match postcard::from_bytes::<prophet_systems::kv::KvState>(state) {
        Ok(prophet_systems::kv::KvState::Replica(r)) => r.store,
        _ => Default::default(),
    }
}

#[test]
fn kv_keeps_acknowledged_writes_across_a_replica_kill_and_a_disconnect() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    require_docker!();
    // Nodes 0..3 are replicas, node 3 the client; every request is issued by node 3.
    let mut c = Cluster::start(
        "kv",
        "kv",
        "replicas = 3, clients = 1",
        4,
        "[workload]\nrate = 40.0\n",
    )
    .expect("cluster starts");
    let served = |c: &Cluster| c.recorded_count(3, "kv.request_latency");
    assert!(
        eventually(300, || served(&c) >= 40),
        "the store serves requests; client log:\n{}",
        c.logs(3)
    );

    // Kill replica 1 (SIGKILL: no clean shutdown), after noting what it stored.
    let before = kv_store(&c.state(1).expect("replica 1 state"));
    assert!(
        !before.is_empty(),
        "replica 1 stored writes before the kill"
    );
    docker(&["kill", &c.container(1)]).expect("kill");
    let at_kill = served(&c);
    assert!(
        eventually(300, || served(&c) >= at_kill + 40),
        "a majority keeps serving while replica 1 is down"
    );
    docker(&["start", &c.container(1)]).expect("restart");
    c.refresh_http(1).expect("port");
    assert!(
        eventually(300, || c.get(1, "/health").is_some()),
        "replica 1 is back:\n{}",
        c.logs(1)
    );
    let after = kv_store(&c.state(1).expect("replica 1 state"));
    for (key, value) in &before {
        assert!(
            after.get(key).is_some_and(|v| v >= value),
            "replica 1 lost key {key} = {value:?} across the kill; after restart: {:?}",
            after.get(key)
        );
    }
    assert!(c.logs(1).contains("recovered durable state"));

    // Cut replica 2 off the network, then reconnect it at the same address.
    let received_before = c.metric_sum(2, "prophet_messages_received_total");
    assert!(
        received_before > 0,
        "replica 2 received messages before the cut"
    );
    docker(&["network", "disconnect", &c.name, &c.container(2)]).expect("disconnect");
    let at_cut = served(&c);
    assert!(
        eventually(300, || served(&c) >= at_cut + 40),
        "serving goes on without replica 2"
    );
    docker(&[
        "network",
        "connect",
        "--ip",
        &c.ip(2),
        &c.name,
        &c.container(2),
    ])
    .expect("reconnect");
    // The published port is allocated anew with the new endpoint.
    c.refresh_http(2).expect("port");
    assert!(
        eventually(300, || c.metric_sum(2, "prophet_messages_received_total")
            > received_before + 10),
        "replica 2 receives writes again after reconnecting; its log:\n{}\nclient metrics:\n{}",
        c.logs(2),
        c.get(3, "/metrics")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("to=\"2\""))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let states = kv_states(&c);
    assert_kv_properties(&["replicas=3".into(), "clients=1".into()], &states);
    match postcard::from_bytes::<prophet_systems::kv::KvState>(&states[3]) {
        Ok(prophet_systems::kv::KvState::Client(client)) => {
            assert!(!client.acked.is_empty(), "writes were acknowledged")
        }
        other => panic!("node 3 is the client: {other:?}"),
    }
}

/// The kv nodes' states in node order, read as one consistent cut: the
/// client (node 3) is cut off from every replica first (a fault rule, with
/// the operator's token), so no write is in progress while the states are
/// read one after another, then the cut heals. (Read while the load runs,
/// a client read first can be behind a value a replica stores by the time
/// it is read, and a client read last can hold an acknowledgement whose
/// write a replica read earlier had not stored yet.)
fn kv_states(c: &Cluster) -> Vec<Vec<u8>> {
    let cut = r#"[{"from":3,"partitioned":true}]"#;
    http(&c.http[3], "POST", "/faults", &c.operator, cut).expect("cut the client off");
    // Messages already on the wire land (or are dropped) within this.
    std::thread::sleep(Duration::from_secs(1));
    let states = (0..4).map(|id| c.state(id).expect("state")).collect();
    http(&c.http[3], "POST", "/faults", &c.operator, "[]").expect("heal");
    states
}

/// Asserts that every property of the kv system holds on `states`.
fn assert_kv_properties(params: &[String], states: &[Vec<u8>]) {
    let registry = prophet_cli::builtin();
    let entry = registry.find("kv").expect("kv is registered");
    let params = entry.params(Purpose::Live, params).expect("params");
    let properties = entry.inspect(&params, states).expect("inspect");
    for p in &properties {
        assert!(
            p.holds,
            "{} does not hold at the end: {properties:?}",
            p.name
        );
    }
}

fn paxos_state(state: &[u8]) -> prophet_systems::paxos::State {
    postcard::from_bytes(state).expect("a paxos state")
}

#[test]
fn paxos_acceptor_killed_and_restarted_keeps_its_promises_and_agreement_holds() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    require_docker!();
    use prophet_systems::paxos::State;
    // 2 clients (0, 1), their proposers (2, 3), acceptors 4, 5, 6: 7 containers.
    let mut c = Cluster::start("paxos", "paxos", "clients = 2, acceptors = 3", 7, "")
        .expect("cluster starts");
    let registry = prophet_cli::builtin();
    let entry = registry.find("paxos").expect("paxos is registered");
    let params = entry
        .params(Purpose::Live, &["clients=2".into(), "acceptors=3".into()])
        .expect("params");
    let check = |c: &Cluster| -> Option<Vec<(String, bool)>> {
        let states: Option<Vec<Vec<u8>>> = (0..7).map(|id| c.state(id)).collect();
        let properties = entry.inspect(&params, &states?).ok()?;
        Some(properties.into_iter().map(|p| (p.name, p.holds)).collect())
    };
    let decided = |c: &Cluster| {
        (0..2).all(|id| {
            c.state(id).is_some_and(|s| {
                matches!(
                    paxos_state(&s),
                    State::Client {
                        decided: Some(_),
                        ..
                    }
                )
            })
        })
    };
    assert!(
        eventually(300, || decided(&c)),
        "both clients learn a decision; proposer log:\n{}",
        c.logs(2)
    );
    // Acceptor 4: what it promised and accepted, then SIGKILL and restart.
    let before = paxos_state(&c.state(4).expect("acceptor state"));
    assert!(
        matches!(&before, State::Acceptor(a) if a.promised.is_some()),
        "{before:?}"
    );
    docker(&["kill", &c.container(4)]).expect("kill");
    docker(&["start", &c.container(4)]).expect("restart");
    c.refresh_http(4).expect("port");
    assert!(
        eventually(300, || c.get(4, "/health").is_some()),
        "acceptor 4 is back:\n{}",
        c.logs(4)
    );
    let after = paxos_state(&c.state(4).expect("acceptor state"));
    assert_eq!(
        after, before,
        "the restarted acceptor kept its promise and accepted value"
    );
    assert!(c.logs(4).contains("recovered durable state"));
    // Every node's state, including the restarted acceptor's: agreement,
    // validity, and a chosen value.
    let properties = check(&c).expect("every node answers");
    for (name, holds) in &properties {
        assert!(holds, "{name} does not hold: {properties:?}");
    }
    let clients: Vec<State> = (0..2)
        .map(|id| paxos_state(&c.state(id).expect("state")))
        .collect();
    match (&clients[0], &clients[1]) {
        (
            State::Client {
                decided: Some(a), ..
            },
            State::Client {
                decided: Some(b), ..
            },
        ) => {
            assert_eq!(a, b, "both clients learned the same value")
        }
        other => panic!("clients decided: {other:?}"),
    }
}

/// What the test takes from `deploy/k8s/statefulset.yaml`, as written there.
struct Manifest {
    /// The ConfigMap's `cluster.toml`.
    cluster_toml: String,
    /// The StatefulSet's `replicas`.
    replicas: usize,
    /// The container's `args`.
    args: Vec<String>,
    /// Volume name to `mountPath` (`cluster`, `secret`, `data`).
    mounts: std::collections::BTreeMap<String, String>,
    /// The secret volume's `defaultMode` (the mode of the secret file).
    secret_mode: u32,
}

/// The fields of a one-line flow mapping `- { a: b, c: d }`.
fn flow_fields(line: &str) -> std::collections::BTreeMap<&str, &str> {
    line.trim()
        .trim_start_matches('-')
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .filter_map(|kv| kv.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Reads the manifest without a YAML library: the few fields needed are
/// taken from the document of the right `kind`, and any surprise in their
/// shape is an error rather than a guess.
fn statefulset_manifest() -> Result<Manifest, String> {
    let path = workspace_root().join("deploy/k8s/statefulset.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let documents: Vec<&str> = text.split("\n---\n").collect();
    let document = |kind: &str| {
        documents
            .iter()
            .find(|d| d.lines().any(|l| l.trim() == format!("kind: {kind}")))
            .copied()
            .ok_or(format!("no `kind: {kind}` document"))
    };
    // The ConfigMap's block scalar: every line indented deeper than its key.
    let config_map = document("ConfigMap")?;
    let mut lines = config_map.lines();
    let key = lines
        .by_ref()
        .find(|l| l.trim() == "cluster.toml: |")
        .ok_or("no `cluster.toml: |` in the ConfigMap")?;
    let block: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || indent(l) > indent(key))
        .collect();
    let body = block
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .ok_or("empty cluster.toml")?;
    let cluster_toml = block
        .iter()
        .map(|l| l.get(body..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let statefulset = document("StatefulSet")?;
    let value = |name: &str| {
        statefulset
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.split(" #").next().unwrap_or(v).trim().to_string())
            .ok_or(format!("no `{name}` in the StatefulSet"))
    };
    let replicas = value("replicas:")?
        .parse()
        .map_err(|e| format!("replicas: {e}"))?;
    // A flow sequence of double-quoted strings is also JSON.
    let args: Vec<String> =
        serde_json::from_str(&value("args:")?).map_err(|e| format!("args: {e}"))?;
    let mut mounts = std::collections::BTreeMap::new();
    for line in statefulset.lines().filter(|l| l.contains("mountPath:")) {
        // `- { name: data, mountPath: /data }`
        let fields = flow_fields(line);
        match (fields.get("name"), fields.get("mountPath")) {
            (Some(name), Some(path)) => mounts.insert(name.to_string(), path.to_string()),
            _ => return Err(format!("cannot read the volume mount `{}`", line.trim())),
        };
    }
    // `secret: { secretName: prophet-secret, defaultMode: 0400 }`, octal.
    let secret_volume = statefulset
        .lines()
        .find(|l| l.contains("secretName:"))
        .ok_or("no secret volume in the StatefulSet")?;
    let secret_line = secret_volume.trim().trim_start_matches("secret:");
    let secret_mode = flow_fields(secret_line)
        .get("defaultMode")
        .ok_or("the secret volume has no defaultMode (Kubernetes would mount it 0644)")
        .and_then(|v| u32::from_str_radix(v, 8).map_err(|_| "defaultMode is not octal"))?;
    Ok(Manifest {
        cluster_toml,
        replicas,
        args,
        mounts,
        secret_mode,
    })
}

/// The search domains and `ndots` of a Kubernetes pod in namespace `default`.
const POD_SEARCH: [&str; 3] = [
    "default.svc.cluster.local",
    "svc.cluster.local",
    "cluster.local",
];

fn container_ip(c: &Cluster, id: usize) -> Result<String, String> {
    docker(&[
        "inspect",
        "-f",
        &format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            c.name
        ),
        &c.container(id),
    ])
}

/// The StatefulSet of deploy/k8s, as near as Docker gets: its cluster file,
/// args and mounts as written, one container per pod named `prophet-N`,
/// found by peers only as `prophet-N.prophet.default.svc.cluster.local`
/// (the headless service's record) through a pod's search domains and
/// `ndots:5`, since the cluster file says `prophet-N.prophet`. A replica
/// killed and restarted at another IP must be dialled again by name.
#[test]
fn the_statefulset_runs_with_peers_found_by_name_and_a_pod_back_at_a_new_ip_rejoins() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // Read before the Docker check: the manifest's shape is checked everywhere.
    let manifest = statefulset_manifest().expect("deploy/k8s/statefulset.yaml");
    assert_eq!(
        manifest.secret_mode & 0o007,
        0,
        "the secret volume's defaultMode lets others read it; nodes refuse that"
    );
    require_docker!();
    assert_eq!(
        manifest.args,
        [
            "node",
            "--config",
            "/cluster/cluster.toml",
            "--id-from-hostname"
        ]
    );
    let config: toml::Value = toml::from_str(&manifest.cluster_toml).expect("cluster.toml");
    assert_eq!(config["system"].as_str(), Some("kv"));
    let nodes = config["nodes"].as_array().expect("[[nodes]]");
    assert_eq!(
        nodes.len(),
        manifest.replicas,
        "replicas equals the number of [[nodes]]"
    );
    let mount = |name: &str| manifest.mounts.get(name).cloned().expect(name);
    let secret_file = config["secret_file"].as_str().expect("secret_file");
    assert_eq!(
        Path::new(secret_file).parent(),
        Some(Path::new(&mount("secret"))),
        "the secret file is on the secret volume"
    );

    let mut c = Cluster::network("sts", manifest.replicas).expect("network");
    let config_dir = c.dir.join("cluster");
    let secret_dir = c.dir.join("secret");
    for dir in [&config_dir, &secret_dir] {
        std::fs::create_dir_all(dir).expect("dir");
    }
    std::fs::write(config_dir.join("cluster.toml"), &manifest.cluster_toml).expect("write");
    let secret_name = Path::new(secret_file)
        .file_name()
        .expect("secret file name");
    let secret = Secret::generate_hex();
    let secret_path = secret_dir.join(secret_name);
    std::fs::write(&secret_path, &secret).expect("write");
    (c.token, c.operator) = tokens(&secret, config["cluster"].as_str().expect("cluster"));
    // As the secret volume mounts it: nodes refuse a secret others may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            &secret_path,
            std::fs::Permissions::from_mode(manifest.secret_mode),
        )
        .expect("chmod");
    }
    // The pod name, its DNS record, and the name peers dial, per node.
    let mut records = Vec::new();
    for (id, node) in nodes.iter().enumerate() {
        let addr = node["addr"].as_str().expect("addr");
        let (host, _) = addr.rsplit_once(':').expect("host:port");
        let pod = host.split('.').next().expect("pod");
        assert_eq!(
            pod,
            format!("prophet-{id}"),
            "node {id} is pod prophet-{id}"
        );
        assert!(
            addr.parse::<std::net::SocketAddr>().is_err(),
            "peers are named, not given by IP: {addr}"
        );
        records.push((pod.to_string(), format!("{host}.{}", POD_SEARCH[0])));
    }
    let run = |c: &Cluster, id: usize| -> Result<String, String> {
        let data = c.dir.join(format!("data-{id}"));
        std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        let (pod, record) = &records[id];
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            &c.container(id),
            "--hostname",
            pod,
            "--network",
            &c.name,
            "--network-alias",
            record,
            "--dns-opt",
            "ndots:5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for domain in POD_SEARCH {
            args.extend(["--dns-search".to_string(), domain.to_string()]);
        }
        for (name, dir) in [("cluster", &config_dir), ("secret", &secret_dir)] {
            args.extend([
                "-v".to_string(),
                format!("{}:{}:ro", dir.display(), mount(name)),
            ]);
        }
        args.extend([
            "-v".to_string(),
            format!("{}:{}", data.display(), mount("data")),
            "-p".to_string(),
            "127.0.0.1::9000".to_string(),
            IMAGE.to_string(),
        ]);
        args.extend(manifest.args.iter().cloned());
        docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    for id in 0..manifest.replicas {
        run(&c, id).expect("pod starts");
        c.http.push(c.http_addr(id).expect("port"));
    }

    // kv with 3 replicas and 1 client: node 3 is the client.
    let client = 3;
    // Requests answered: a request that timed out is counted in the
    // latency too, so timeouts are taken off.
    let served = |c: &Cluster| {
        c.recorded_count(client, "kv.request_latency")
            .saturating_sub(c.recorded_count(client, "kv.timeouts"))
    };
    assert!(
        eventually(300, || served(&c) >= 40),
        "the store serves requests with peers named; client log:\n{}",
        c.logs(client)
    );

    // Replica 1's pod dies and comes back at another IP (its record moves
    // with it), as a rescheduled pod does.
    let restarted = 1;
    let old_ip = container_ip(&c, restarted).expect("ip");
    let connects = |c: &Cluster| {
        c.metric_sum(
            client,
            &format!("prophet_connects_total{{from=\"{client}\",to=\"{restarted}\"}}"),
        )
    };
    // Replica 1 dials the client (the lower id dials); it may still be in
    // its start-up backoff while the other replicas serve the first
    // requests, so wait for its connection rather than assume it.
    assert!(
        eventually(100, || connects(&c) >= 1),
        "replica 1 and the client connected; client log:\n{}",
        c.logs(client)
    );
    let connects_before = connects(&c);
    docker(&["kill", &c.container(restarted)]).expect("kill");
    docker(&["network", "disconnect", &c.name, &c.container(restarted)]).expect("disconnect");
    let new_ip = c.ip(50);
    assert_ne!(new_ip, old_ip);
    docker(&[
        "network",
        "connect",
        "--ip",
        &new_ip,
        "--alias",
        &records[restarted].1,
        &c.name,
        &c.container(restarted),
    ])
    .expect("reconnect at a new IP");
    // While the pod is away a majority keeps serving.
    let at_kill = served(&c);
    assert!(
        eventually(300, || served(&c) >= at_kill + 20),
        "a majority keeps serving while replica 1 is away"
    );
    let at_restart = served(&c);
    docker(&["start", &c.container(restarted)]).expect("restart");
    assert_eq!(container_ip(&c, restarted).expect("ip"), new_ip);
    c.refresh_http(restarted).expect("port");
    assert!(
        eventually(300, || c.get(restarted, "/health").is_some()),
        "replica 1 is back:\n{}",
        c.logs(restarted)
    );
    // Its counters started from zero with the new process: whatever it
    // receives came over connections dialled to its new IP.
    assert!(
        eventually(300, || c
            .metric_sum(restarted, "prophet_messages_received_total")
            > 10),
        "peers reach replica 1 at its new IP; its log:\n{}\nclient log:\n{}",
        c.logs(restarted),
        c.logs(client)
    );
    assert!(
        connects(&c) > connects_before,
        "the client dialled replica 1 again"
    );
    assert!(
        eventually(300, || served(&c) >= at_restart + 40),
        "the store keeps serving"
    );

    let states = kv_states(&c);
    let params: Vec<String> = config["params"]
        .as_table()
        .expect("params")
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_kv_properties(&params, &states);
    assert!(
        !kv_store(&states[1]).is_empty(),
        "the restarted replica stores writes"
    );
}

/// What the swarm Job of deploy/k8s runs: its pod count, container args and
/// environment, read without a YAML library (any surprise is an error).
struct SwarmJob {
    completions: u32,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn swarm_job_manifest() -> Result<SwarmJob, String> {
    let path = workspace_root().join("deploy/k8s/swarm-job.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let body: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let value = |name: &str| {
        body.iter()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
            .ok_or(format!("no `{name}` in the Job"))
    };
    if value("kind:")? != "Job" || value("completionMode:")? != "Indexed" {
        return Err("not an Indexed Job: the pods would not get JOB_COMPLETION_INDEX".into());
    }
    let completions: u32 = value("completions:")?
        .parse()
        .map_err(|e| format!("completions: {e}"))?;
    let args: Vec<String> =
        serde_json::from_str(&value("args:")?).map_err(|e| format!("args: {e}"))?;
    let mut env = Vec::new();
    let mut in_env = None;
    for line in &body {
        if line.trim() == "env:" {
            in_env = Some(indent(line));
            continue;
        }
        match in_env {
            Some(depth) if indent(line) > depth && line.trim().starts_with("- {") => {
                let fields = flow_fields(line);
                match (fields.get("name"), fields.get("value")) {
                    (Some(name), Some(value)) => {
                        env.push((name.to_string(), value.trim_matches('"').to_string()))
                    }
                    _ => return Err(format!("cannot read the env entry `{}`", line.trim())),
                }
            }
            Some(_) => in_env = None,
            None => {}
        }
    }
    Ok(SwarmJob {
        completions,
        args,
        env,
    })
}

/// The swarm Job of deploy/k8s as Docker runs it: one container per index
/// with the manifest's args and environment, and JOB_COMPLETION_INDEX set
/// as the Job controller sets it; the logs' last lines are merged by the
/// host's `prophet swarm merge`, which must find Paxos's seeded bug with a
/// trace that replays.
#[test]
fn the_swarm_job_finds_the_seeded_bug_in_containers_and_the_merge_replays() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let job = swarm_job_manifest().expect("deploy/k8s/swarm-job.yaml");
    assert_eq!(job.completions, 8);
    let size_at = job
        .args
        .iter()
        .position(|a| a == "--swarm")
        .expect("--swarm");
    assert_eq!(job.args.get(size_at + 1).map(String::as_str), Some("8"));
    require_docker!();
    let prefix = format!("prophet-swarm-{}", std::process::id());
    let names: Vec<String> = (0..job.completions)
        .map(|i| format!("{prefix}-{i}"))
        .collect();
    let cleanup = |names: &[String]| {
        for name in names {
            let _ = docker(&["rm", "-f", name]);
        }
    };
    for (index, name) in names.iter().enumerate() {
        let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.clone()];
        args.extend(["--network".into(), "none".into()]);
        args.extend(["-e".into(), format!("JOB_COMPLETION_INDEX={index}")]);
        for (key, value) in &job.env {
            args.extend(["-e".into(), format!("{key}={value}")]);
        }
        args.push(IMAGE.into());
        args.extend(job.args.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(error) = docker(&refs) {
            cleanup(&names);
            panic!("worker {index} does not start: {error}");
        }
    }
    let dir = std::env::temp_dir().join(format!("{prefix}-logs"));
    std::fs::create_dir_all(&dir).expect("log dir");
    let mut files = Vec::new();
    for (index, name) in names.iter().enumerate() {
        // `docker wait` returns when the container exits; the workers are bounded
        // by --walks, so this terminates.
        let code = docker(&["wait", name]);
        let logs = Command::new("docker")
            .args(["logs", name])
            .output()
            .expect("docker logs");
        let path = dir.join(format!("worker-{index}.json"));
        std::fs::write(&path, &logs.stdout).expect("write log");
        if code.as_deref() != Ok("0") {
            cleanup(&names);
            panic!(
                "worker {index} exited {code:?}: {}",
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        files.push(path.display().to_string());
    }
    cleanup(&names);
    let mut merge_args = vec!["swarm".to_string(), "merge".into(), "--json".into()];
    merge_args.extend(files.iter().cloned());
    let merged = Command::new(env!("CARGO_BIN_EXE_prophet"))
        .args(&merge_args)
        .output()
        .expect("merge runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(merged.status.code(), Some(1), "the swarm finds the bug");
    let text = String::from_utf8_lossy(&merged.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or("{}")).expect("merge JSON");
    assert_eq!(
        summary["workers"],
        serde_json::json!([0, 1, 2, 3, 4, 5, 6, 7])
    );
    assert_eq!(summary["missing"], serde_json::json!([]));
    let violation = &summary["violations"][0];
    assert_eq!(violation["property"], "agreement", "{summary}");
    let trace: prophet::explore::Trace =
        serde_json::from_value(violation["trace"].clone()).expect("a trace");
    let replay = Command::new(env!("CARGO_BIN_EXE_prophet"))
        .args([
            "check",
            "paxos",
            "-p",
            "variant=ignore-accepted",
            "--replay",
        ])
        .arg(trace.encoded())
        .arg("--json")
        .output()
        .expect("replay runs");
    let replayed: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&replay.stdout)
            .lines()
            .last()
            .unwrap_or("{}"),
    )
    .expect("replay JSON");
    assert_eq!(replayed["violated"], serde_json::json!(["agreement"]));
}
