//! The seam through which the resolver deliberates in a simulated run,
//! without the simulator knowing it (the resolver sits above `sim`: it runs
//! simulations of its own).
//!
//! A [`Deliberation`] makes one [`Deliberator`] per run, seeded from the
//! run's seed (it never draws from the run's generator). The run shows it
//! what each node saw (the same [`Observation`]s an observer gets: message
//! arrivals with their headers, and the outcomes of the node's own
//! decisions; never the network model or another node's memory), and lets
//! it look at a node's own state just before each of the node's handlers
//! runs, to refresh the node's fast-path tables ([`PolicyTable::advise`]).
//! A decision inside the handler then reads the table and never waits:
//! deliberation runs between events, inline and deterministically, as it
//! runs off the handler's thread live.

use std::time::Duration;

use crate::choice::PolicyTable;
use crate::model::{Node, NodeId};
use crate::sim::observe::Observation;

/// Makes a run's deliberator.
pub trait Deliberation<N: Node>: Sync {
    /// The deliberator of the run with seed `seed`.
    fn start(&self, seed: u64) -> Box<dyn Deliberator<N> + '_>;
}

/// Deliberates for the nodes of one run.
pub trait Deliberator<N: Node> {
    /// What a node saw.
    fn observe(&mut self, seen: &Observation<'_>);
    /// Node `node`, whose state is `state`, is about to run a handler at
    /// `now`: refresh what its policies predict, if it is time.
    fn before_handler(
        &mut self,
        node: NodeId,
        state: &N::State,
        now: Duration,
        policies: &mut PolicyTable,
    );
}
