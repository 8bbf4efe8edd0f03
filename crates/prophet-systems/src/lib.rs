//! Prophet's reference protocols, used by the tests, the benchmarks and the
//! `prophet` command line.
//!
//! Each protocol is written once against [`prophet::model`] and described
//! once, next to its code, for [`prophet::registry`]: parameters with a
//! default per purpose, variants with seeded bugs, choices, workload and
//! simulator defaults. This crate holds protocols only: the command line
//! (`prophet_cli::builtin`) registers them.

#![warn(missing_docs)]

pub mod chord;
pub mod kv;
pub mod paxos;
pub mod randtree;
pub mod two_phase;
