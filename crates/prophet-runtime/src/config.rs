//! The cluster file: one TOML document every process of a cluster reads.
//!
//! ```toml
//! cluster = "demo"                 # cluster id, checked in every handshake
//! system = "paxos"                 # registered name (`prophet list`)
//! params = { acceptors = 3 }       # the system's parameters (strings or integers)
//! secret_file = "cluster.secret"   # hex, >= 16 bytes, mode 0600 or 0640; or `secret = "<hex>"`
//! data_dir = "data"                # durable files go to <data_dir>/node-<id>.durable
//!
//! [limits]                         # all optional
//! max_frame_bytes = 1048576
//! send_queue = 4096
//! inbox = 4096
//! prelogin_connections = 256       # connections not yet past the handshake
//! prelogin_per_source = 16         # ... from one source address
//! spool_bytes = 1073741824         # per link, messages waiting for a peer
//!
//! [transport]                      # optional
//! encrypt = false                  # true: Noise-encrypted node connections
//!
//! [http]                           # optional
//! expose = false                   # true: nodes[].http may bind beyond loopback
//! allowed_hosts = ["prophet.example"]  # Host names privileged requests may use
//!
//! [choose]                         # optional: simulator policies by name
//! policy = "first"                 # default for every choice
//! seed = 7                         # for random policies
//! choices = { "kv.read_replica" = "p2c" }
//! log = false                      # true: decision logs in data_dir
//!
//! [[nodes]]                        # one per node, ids 0..n in order
//! id = 0
//! addr = "127.0.0.1:7000"          # where peers dial this node: ip:port, or
//!                                  # host:port resolved at each connect attempt
//! listen = "0.0.0.0:7000"          # optional: where it binds, ip:port (default: addr)
//! http = "127.0.0.1:9000"          # optional: control plane of its process
//!                                  # (loopback unless [http] expose = true)
//!
//! [workload]                       # optional, for systems with clients (kv)
//! rate = 10.0                      # requests per second over the cluster
//! requests = 0                     # total, 0 = no limit
//!
//! [[faults]]                       # optional, also changeable at run time
//! from = 0
//! to = 1
//! delay_ms = 40
//! loss = 0.01
//! partitioned = false
//! ```
//!
//! Relative paths are relative to the cluster file. Every error names the
//! field that is wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::address::PeerAddr;
use crate::auth::{Secret, unhex};
use crate::choice::ChoiceConfig;
use crate::codec::MAX_FRAME_BYTES_DEFAULT;
use crate::faults::FaultRule;

/// Why a cluster file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not valid TOML, or a field of the wrong type, or an unknown field.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message (it names the field and line).
        message: String,
    },
    /// A field has a value that is not acceptable.
    #[error("field `{field}`: {message}")]
    Field {
        /// The field, e.g. `nodes[2].addr`.
        field: String,
        /// What is wrong and what would be right.
        message: String,
    },
}

fn field(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        field: field.into(),
        message: message.into(),
    }
}

/// Largest secret file read (bytes): a secret is 32 to a few hundred hex
/// digits, so anything bigger is the wrong file.
pub const SECRET_FILE_BYTES_MAX: u64 = 4096;

/// Reads the secret file at `path`, refusing one that every user of the
/// machine may read.
///
/// On Unix a mode granting "others" any access (`mode & 0o007 != 0`) is
/// refused: the secret is the whole of a cluster's access control. Group
/// access is allowed, because Kubernetes mounts a secret volume group-owned
/// by the pod's `fsGroup` and makes its files group-readable when the pod
/// sets one; the group is then the pod's own.
fn read_secret_file(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let cannot = |e: std::io::Error| {
        field(
            "secret_file",
            format!("cannot read {}: {e}", path.display()),
        )
    };
    // `metadata` follows symlinks, as Kubernetes secret volumes use them.
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o007 != 0 {
            return Err(field(
                "secret_file",
                format!(
                    "{} has mode {mode:04o}, which lets every user of this machine read the cluster secret; run `chmod 600 {}` (0640 is also accepted)",
                    path.display(),
                    path.display()
                ),
            ));
        }
    }
    if metadata.len() > SECRET_FILE_BYTES_MAX {
        return Err(field(
            "secret_file",
            format!(
                "{} is {} bytes, over the {SECRET_FILE_BYTES_MAX}-byte limit: not a secret file",
                path.display(),
                metadata.len()
            ),
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(SECRET_FILE_BYTES_MAX + 1).read_to_string(&mut text))
        .map_err(cannot)?;
    if text.len() as u64 > SECRET_FILE_BYTES_MAX {
        return Err(field(
            "secret_file",
            format!(
                "{} holds more than {SECRET_FILE_BYTES_MAX} bytes: not a secret file",
                path.display()
            ),
        ));
    }
    Ok(text)
}

/// Optional limits.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest frame body, in bytes.
    pub max_frame_bytes: usize,
    /// Capacity of each per-link send queue (messages).
    pub send_queue: usize,
    /// Capacity of each node's inbox (events).
    pub inbox: usize,
    /// Connections accepted that have not completed the handshake, at most.
    pub prelogin_connections: usize,
    /// Of those, at most this many from one source address.
    pub prelogin_per_source: usize,
    /// Bytes of messages one link holds for a peer that does not take them
    /// (reliable systems: in memory up to `send_queue` messages, then on
    /// disk); beyond it the sending node stops with an error.
    pub spool_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: MAX_FRAME_BYTES_DEFAULT,
            send_queue: 4096,
            inbox: 4096,
            prelogin_connections: 256,
            prelogin_per_source: 16,
            spool_bytes: 1 << 30,
        }
    }
}

/// The node port's transport.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TransportSection {
    /// Encrypt every connection between nodes (Noise, keyed by the cluster
    /// secret: see `prophet_runtime::crypt`). Every process of a cluster
    /// must agree.
    pub encrypt: bool,
}

/// The HTTP control plane's exposure.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Whether `nodes[].http` may bind an address other than loopback. Off
    /// by default: the endpoint serves states and fault injection (behind
    /// tokens), and exposing it is a decision the cluster file states.
    pub expose: bool,
    /// Host names (besides IP literals, `localhost` and the cluster file's
    /// host names) that privileged requests may carry in `Host`.
    pub allowed_hosts: Vec<String>,
}

/// The request generator (for systems with a workload, e.g. `kv`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadConfig {
    /// Requests per second over the whole cluster (0: no requests).
    pub rate: f64,
    /// Total requests (0: no limit).
    pub requests: u64,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            rate: 10.0,
            requests: 0,
        }
    }
}

/// A node's entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// The node id (must equal its position).
    pub id: u32,
    /// Where peers dial it: `ip:port`, or `host:port` resolved at every
    /// connect attempt (checked by [`PeerAddr::parse`]).
    pub addr: String,
    /// Where it binds (default `addr`).
    #[serde(default)]
    pub listen: Option<String>,
    /// Metrics and health endpoint of the process hosting it.
    #[serde(default)]
    pub http: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    cluster: String,
    system: String,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
    #[serde(default)]
    data_dir: Option<PathBuf>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    http: HttpConfig,
    #[serde(default)]
    transport: TransportSection,
    #[serde(default)]
    choose: ChoiceConfig,
    nodes: Vec<NodeEntry>,
    #[serde(default)]
    faults: Vec<FaultRule>,
    #[serde(default)]
    workload: WorkloadConfig,
}

/// A validated cluster file.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Cluster id.
    pub cluster: String,
    /// Catalog name of the system.
    pub system: String,
    /// Parameters as `key=value` pairs for the registry entry.
    pub params: Vec<String>,
    /// The shared secret.
    pub secret: Secret,
    /// Directory of durable files.
    pub data_dir: PathBuf,
    /// Limits.
    pub limits: Limits,
    /// The HTTP control plane's exposure.
    pub http: HttpConfig,
    /// The node port's transport.
    pub transport: TransportSection,
    /// Choice policies.
    pub choose: ChoiceConfig,
    /// Nodes by id.
    pub nodes: Vec<NodeEntry>,
    /// Initial fault rules.
    pub faults: Vec<FaultRule>,
    /// The request generator.
    pub workload: WorkloadConfig,
}

impl ClusterConfig {
    /// Reads and validates a cluster file.
    pub fn load(path: &Path) -> Result<ClusterConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &path.display().to_string(), base)
    }

    /// The host names of the cluster file (node addresses given as
    /// `host:port`) and `[http] allowed_hosts`: the names the HTTP endpoint
    /// answers privileged requests for, besides IP literals and `localhost`.
    pub fn host_names(&self) -> Vec<String> {
        let mut names = self.http.allowed_hosts.clone();
        for node in &self.nodes {
            if let Some((host, _)) = node.addr.rsplit_once(':')
                && host.parse::<std::net::IpAddr>().is_err()
            {
                names.push(host.to_string());
            }
        }
        names
    }

    /// Parses and validates cluster-file text; relative paths resolve against `base`.
    pub fn parse(text: &str, name: &str, base: &Path) -> Result<ClusterConfig, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: name.to_string(),
            message: e.to_string(),
        })?;
        if raw.cluster.trim().is_empty() || raw.cluster.len() > 64 {
            return Err(field("cluster", "must be 1 to 64 characters"));
        }
        let secret_hex = match (&raw.secret, &raw.secret_file) {
            (Some(s), None) => s.clone(),
            (None, Some(file)) => read_secret_file(&base.join(file))?,
            (Some(_), Some(_)) => {
                return Err(field(
                    "secret",
                    "give either `secret` or `secret_file`, not both",
                ));
            }
            (None, None) => {
                return Err(field(
                    "secret",
                    "missing: give `secret = \"<hex>\"` or `secret_file` (generate one with `prophet cluster-secret`)",
                ));
            }
        };
        let secret_field = if raw.secret.is_some() {
            "secret"
        } else {
            "secret_file"
        };
        let bytes = unhex(&secret_hex).ok_or_else(|| field(secret_field, "is not hex"))?;
        let secret = Secret::checked(bytes).map_err(|e| match &raw.secret_file {
            Some(file) => field(secret_field, format!("{}: {e}", base.join(file).display())),
            None => field(secret_field, e.to_string()),
        })?;
        if raw.nodes.is_empty() {
            return Err(field("nodes", "at least one node is needed"));
        }
        let mut seen_addr = BTreeMap::new();
        for (i, node) in raw.nodes.iter().enumerate() {
            if node.id as usize != i {
                return Err(field(
                    format!("nodes[{i}].id"),
                    format!(
                        "is {} but nodes must be listed with ids 0, 1, 2, ... in order (expected {i})",
                        node.id
                    ),
                ));
            }
            PeerAddr::parse(&node.addr)
                .map_err(|e| field(format!("nodes[{i}].addr"), e.to_string()))?;
            if let Some(other) = seen_addr.insert(node.addr.clone(), i) {
                return Err(field(
                    format!("nodes[{i}].addr"),
                    format!("`{}` is also the address of node {other}", node.addr),
                ));
            }
            for (name, value) in [("listen", &node.listen), ("http", &node.http)] {
                if let Some(v) = value
                    && v.parse::<std::net::SocketAddr>().is_err()
                {
                    return Err(field(
                        format!("nodes[{i}].{name}"),
                        format!("`{v}` is not ip:port"),
                    ));
                }
            }
        }
        for (i, node) in raw.nodes.iter().enumerate() {
            let Some(http) = node.http.as_deref() else {
                continue;
            };
            let loopback = http
                .parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.ip().is_loopback());
            if !loopback && !raw.http.expose {
                return Err(field(
                    format!("nodes[{i}].http"),
                    format!(
                        "`{http}` binds beyond loopback: set `[http] expose = true` to serve the control plane on the network (states and fault injection need a token: see `prophet http-token`)"
                    ),
                ));
            }
        }
        if raw.limits.max_frame_bytes < 64 || raw.limits.max_frame_bytes > (64 << 20) {
            return Err(field(
                "limits.max_frame_bytes",
                "must be from 64 to 67108864",
            ));
        }
        for (name, value) in [
            ("limits.send_queue", raw.limits.send_queue),
            ("limits.inbox", raw.limits.inbox),
            (
                "limits.prelogin_connections",
                raw.limits.prelogin_connections,
            ),
            ("limits.prelogin_per_source", raw.limits.prelogin_per_source),
        ] {
            if value == 0 || value > 1 << 20 {
                return Err(field(name, "must be from 1 to 1048576"));
            }
        }
        if raw.limits.spool_bytes < 1 << 20 {
            return Err(field("limits.spool_bytes", "must be at least 1048576"));
        }
        for (i, rule) in raw.faults.iter().enumerate() {
            rule.validate(raw.nodes.len())
                .map_err(|(name, message)| field(format!("faults[{i}].{name}"), message))?;
        }
        if !(0.0..=100_000.0).contains(&raw.workload.rate) {
            return Err(field(
                "workload.rate",
                "must be from 0 to 100000 requests per second",
            ));
        }
        raw.choose
            .validate()
            .map_err(|(name, message)| field(name, message))?;
        let mut params = Vec::new();
        for (key, value) in &raw.params {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(field(
                        format!("params.{key}"),
                        "must be a string, integer or boolean",
                    ));
                }
            };
            params.push(format!("{key}={text}"));
        }
        Ok(ClusterConfig {
            cluster: raw.cluster,
            system: raw.system,
            params,
            secret,
            data_dir: base.join(raw.data_dir.unwrap_or_else(|| PathBuf::from("data"))),
            limits: raw.limits,
            http: raw.http,
            transport: raw.transport,
            choose: raw.choose,
            nodes: raw.nodes,
            faults: raw.faults,
            workload: raw.workload,
        })
    }

    /// Checks that the system built from this file has exactly as many nodes
    /// as the file lists.
    pub fn check_node_count(&self, system_nodes: usize) -> Result<(), ConfigError> {
        if system_nodes != self.nodes.len() {
            return Err(field(
                "nodes",
                format!(
                    "lists {} nodes but system `{}` with these params has {system_nodes}",
                    self.nodes.len(),
                    self.system
                ),
            ));
        }
        Ok(())
    }

    /// Checks `ids` are nodes of this cluster.
    pub fn check_ids(&self, ids: &[u32]) -> Result<(), ConfigError> {
        if ids.is_empty() {
            return Err(field("--id", "give at least one node id"));
        }
        for &id in ids {
            if id as usize >= self.nodes.len() {
                return Err(field(
                    "--id",
                    format!(
                        "node {id} is not in the cluster file (ids 0..{})",
                        self.nodes.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
cluster = "t"
system = "paxos"
params = { acceptors = 3, variant = "correct" }
secret = "000102030405060708090a0b0c0d0e0f"
[[nodes]]
id = 0
addr = "127.0.0.1:7000"
[[nodes]]
id = 1
addr = "127.0.0.1:7001"
http = "127.0.0.1:9001"
[[faults]]
from = 0
to = 1
delay_ms = 5
"#;

    fn error_field(text: &str) -> String {
        match ClusterConfig::parse(text, "c.toml", Path::new("/tmp")) {
            Err(ConfigError::Field { field, .. }) => field,
            Err(other) => format!("other: {other}"),
            Ok(_) => "ok".into(),
        }
    }

    #[test]
    fn a_good_file_parses() {
        let c = ClusterConfig::parse(GOOD, "c.toml", Path::new("/tmp")).expect("valid");
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(
            c.params,
            vec!["acceptors=3".to_string(), "variant=correct".to_string()]
        );
        assert_eq!(c.data_dir, PathBuf::from("/tmp/data"));
        assert_eq!(c.faults[0].delay_ms, 5);
        assert!(c.check_node_count(3).is_err());
        assert!(c.check_ids(&[2]).is_err());
    }

    #[test]
    fn node_addresses_may_be_names() {
        let text = GOOD
            .replace("127.0.0.1:7000", "prophet-0.prophet:7000")
            .replace(
                "127.0.0.1:7001",
                "prophet-1.prophet.default.svc.cluster.local.:7000",
            );
        let c = ClusterConfig::parse(&text, "c.toml", Path::new("/tmp")).expect("names are valid");
        assert_eq!(c.nodes[0].addr, "prophet-0.prophet:7000");
        // The message says which part is wrong.
        let error = ClusterConfig::parse(
            &GOOD.replace("127.0.0.1:7001", "prophet-1.prophet:0"),
            "c.toml",
            Path::new("/tmp"),
        )
        .expect_err("port 0");
        assert!(
            error.to_string().contains("nodes[1].addr") && error.to_string().contains("port"),
            "{error}"
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases = [
            (GOOD.replace("id = 1", "id = 2"), "nodes[1].id"),
            (GOOD.replace("7001", "7000"), "nodes[1].addr"),
            (GOOD.replace("127.0.0.1:7001", "nowhere"), "nodes[1].addr"),
            (
                GOOD.replace("127.0.0.1:7001", "prophet-1.prophet"),
                "nodes[1].addr",
            ),
            (
                GOOD.replace("127.0.0.1:7001", "prophet-1.prophet:70000"),
                "nodes[1].addr",
            ),
            (GOOD.replace("127.0.0.1:7001", ":7001"), "nodes[1].addr"),
            (
                GOOD.replace("127.0.0.1:7001", "prophet 1:7001"),
                "nodes[1].addr",
            ),
            (GOOD.replace("\"127.0.0.1:9001\"", "\"x\""), "nodes[1].http"),
            (
                GOOD.replace("000102030405060708090a0b0c0d0e0f", "0001"),
                "secret",
            ),
            (
                GOOD.replace("000102030405060708090a0b0c0d0e0f", "zz"),
                "secret",
            ),
            (
                GOOD.replace("secret = \"000102030405060708090a0b0c0d0e0f\"", ""),
                "secret",
            ),
            (GOOD.replace("to = 1", "to = 9"), "faults[0].to"),
            (GOOD.replace("delay_ms = 5", "loss = 2.0"), "faults[0].loss"),
            (GOOD.replace("cluster = \"t\"", "cluster = \"\""), "cluster"),
            (
                format!("{GOOD}\n[limits]\nsend_queue = 0\n"),
                "limits.send_queue",
            ),
            (
                format!("{GOOD}\n[limits]\nprelogin_per_source = 0\n"),
                "limits.prelogin_per_source",
            ),
            (
                format!("{GOOD}\n[limits]\nspool_bytes = 1000\n"),
                "limits.spool_bytes",
            ),
            // The control plane stays on loopback unless the file says so.
            (
                GOOD.replace("\"127.0.0.1:9001\"", "\"0.0.0.0:9001\""),
                "nodes[1].http",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error_field(&text), expected, "for {expected}");
        }
        let unknown =
            ClusterConfig::parse(&GOOD.replace("system", "sistem"), "c.toml", Path::new("/"))
                .expect_err("unknown field");
        assert!(unknown.to_string().contains("sistem"), "{unknown}");
    }

    #[test]
    fn an_exposed_control_plane_is_a_stated_decision() {
        let exposed = GOOD.replace("\"127.0.0.1:9001\"", "\"0.0.0.0:9001\"");
        let text = format!("{exposed}\n[http]\nexpose = true\nallowed_hosts = [\"ops.example\"]\n");
        let config = ClusterConfig::parse(&text, "c.toml", Path::new("/")).expect("valid");
        assert!(config.http.expose);
        assert_eq!(config.host_names(), ["ops.example"]);
    }

    /// The field and message of the error `text` is refused with.
    fn refusal(text: &str, base: &Path) -> (String, String) {
        match ClusterConfig::parse(text, "c.toml", base) {
            Err(ConfigError::Field { field, message }) => (field, message),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn a_placeholder_secret_is_refused_and_a_generated_one_never_is() {
        let placeholders = [
            "00".repeat(32),
            "ff".repeat(16),
            "deadbeef".repeat(8),
            // 7 distinct values: one short of the minimum.
            "00010203040506".repeat(4),
        ];
        for placeholder in placeholders {
            let text = GOOD.replace("000102030405060708090a0b0c0d0e0f", &placeholder);
            let (field, message) = refusal(&text, Path::new("/tmp"));
            assert_eq!(field, "secret", "{placeholder}");
            assert!(message.contains("of the 256 byte values"), "{message}");
            assert!(message.contains("prophet cluster-secret"), "{message}");
        }
        // Exactly the minimum is enough.
        let eight = "0001020304050607".repeat(2);
        let text = GOOD.replace("000102030405060708090a0b0c0d0e0f", &eight);
        ClusterConfig::parse(&text, "c.toml", Path::new("/tmp")).expect("8 distinct values");
        // What `prophet cluster-secret` prints always passes (the chance
        // that it does not is about 1e-37 per secret).
        for _ in 0..1000 {
            let bytes = unhex(&Secret::generate_hex()).expect("hex");
            Secret::checked(bytes).expect("a generated secret is accepted");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("prophet-config-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("cluster.secret");
        let text = GOOD.replace(
            "secret = \"000102030405060708090a0b0c0d0e0f\"",
            "secret_file = \"cluster.secret\"",
        );
        std::fs::write(&file, Secret::generate_hex()).expect("write");
        let chmod = |mode: u32| {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        // Owner-only and group-readable (Kubernetes fsGroup) are accepted.
        for mode in [0o600, 0o400, 0o640, 0o440] {
            chmod(mode);
            ClusterConfig::parse(&text, "c.toml", &dir)
                .unwrap_or_else(|e| panic!("mode {mode:o} is accepted: {e}"));
        }
        // Any access for others is refused, naming the file and the mode.
        for mode in [0o644, 0o604, 0o602, 0o601, 0o666] {
            chmod(mode);
            let (field, message) = refusal(&text, &dir);
            assert_eq!(field, "secret_file", "mode {mode:o}");
            assert!(message.contains(&file.display().to_string()), "{message}");
            assert!(message.contains(&format!("mode {mode:04o}")), "{message}");
            assert!(message.contains("chmod 600"), "{message}");
        }
        // An all-zero secret in a well-protected file is refused too.
        std::fs::write(&file, "00".repeat(32)).expect("write");
        chmod(0o600);
        let (field, message) = refusal(&text, &dir);
        assert_eq!(field, "secret_file");
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(
            message.contains("holds only 1 of the 256 byte values"),
            "{message}"
        );
        // So is a file far too big to be a secret.
        std::fs::write(&file, "ab".repeat(4096)).expect("write");
        let (field, message) = refusal(&text, &dir);
        assert_eq!(field, "secret_file");
        assert!(message.contains("not a secret file"), "{message}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
