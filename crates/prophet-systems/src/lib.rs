//! Prophet's reference systems, used by the tests, the benchmarks and the
//! `prophet` command line.
//!
//! Each system is written once against [`prophet::model`] and declares its
//! choices, invariants and objectives; [`catalog`] lists them by name with
//! their parameters so that tools can find them.

#![warn(missing_docs)]

pub mod catalog;
pub mod kv;
pub mod paxos;
pub mod randtree;
pub mod sim_catalog;
pub mod two_phase;
