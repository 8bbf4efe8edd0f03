//! The live runtime: Prophet nodes on real processes, sockets, clocks and
//! disks, running the same node code as the explorer and the simulator.
//!
//! Each node is a tokio task that handles one event at a time
//! ([`executor`]), through [`prophet::model::execute`]. Nodes talk over TCP
//! in length-prefixed postcard frames ([`codec`], [`connection`]) after a
//! mutual challenge-response on the cluster secret ([`auth`]), optionally
//! encrypted with a Noise handshake keyed by the same secret ([`crypt`]), through
//! bounded per-link queues and a run-time fault layer ([`transport`],
//! [`faults`]). Durable state is synced before dependent messages leave
//! ([`durable`]); what a reliable system sends a peer that does not take it
//! waits in a spool ([`spool`]). A process exposes health and metrics, and
//! to token holders states and fault injection, over HTTP ([`http`],
//! [`metrics`]), and offers a system's requests to its client
//! nodes on a fixed schedule ([`workload`]). A cluster is one TOML file
//! ([`config`]) that names its system in a `prophet::registry::Registry`;
//! [`live`] runs any registered system and knows no particular protocol.
//!
//! This crate is the only one in the workspace with async code and I/O.

#![warn(missing_docs)]

pub mod address;
pub mod auth;
pub mod choice;
pub mod codec;
pub mod config;
pub mod connection;
pub mod crypt;
pub mod dashboard;
pub mod durable;
pub mod executor;
pub mod faults;
pub mod http;
pub mod journal;
pub mod live;
pub mod metrics;
pub mod models;
pub mod ports;
pub mod process;
pub mod spill;
pub mod spool;
pub mod transport;
pub mod workload;

pub use config::{ClusterConfig, ConfigError};
pub use process::{Process, ProcessOptions};

/// Why the runtime could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The cluster file is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Durable state could not be read or written.
    #[error(transparent)]
    Durable(#[from] durable::DurableError),
    /// A file the runtime writes could not be created.
    #[error("cannot create {what}: {source}")]
    Io {
        /// What it is.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A socket could not be bound.
    #[error("cannot bind {what} = {addr}: {source}")]
    Bind {
        /// The config field.
        what: String,
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Protocol code panicked: the node stops rather than run on a state the
    /// panic may have left half-updated.
    #[error("node {node}: handler panicked: {message}")]
    HandlerPanicked {
        /// The node.
        node: u32,
        /// The panic message.
        message: String,
    },
    /// A handler's effects were refused (a send to a node that does not
    /// exist): the node stops, as it would on a panic, and as the checker
    /// and the simulator report the same step.
    #[error("node {node}: handler failed: {message}")]
    HandlerFailed {
        /// The node.
        node: u32,
        /// What was wrong.
        message: String,
    },
    /// Messages for a peer outgrew the link's spool (or its file failed):
    /// the node stops rather than drop what a reliable protocol relies on.
    #[error("node {node}: link to node {to}: {message}")]
    LinkOverflow {
        /// The sending node.
        node: u32,
        /// The peer that does not take its messages.
        to: u32,
        /// What happened.
        message: String,
    },
    /// A value could not be encoded.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The system or its parameters were refused.
    #[error("{0}")]
    System(String),
    /// A bug in the runtime.
    #[error("internal error: {0}")]
    Internal(&'static str),
}
