//! Checking the system's invariants on the simulator's global state.

use std::time::Duration;

use super::{Ev, Run};
use crate::model::{Envelope, Expectation, InFlight, Model, Node};
use crate::sim::SimViolation;

impl<N: Node> Run<'_, '_, N> {
    /// Evaluates the system's `always` properties on the current global
    /// state (messages in flight and pending timers included). Records the
    /// first one that fails and returns whether one did.
    pub(super) fn check_invariants(&mut self) -> bool {
        let system = self.sim.system;
        let properties: Vec<_> = system
            .properties()
            .into_iter()
            .filter(|p| p.expectation == Expectation::Always)
            .collect();
        if properties.is_empty() {
            return false;
        }
        let mut network = InFlight::new(system.semantics().delivery);
        let waiting = self.nodes.iter().flat_map(|rt| rt.waiting.iter());
        // In the order they will run (a per-link FIFO network keeps each
        // link's messages in arrival order).
        for ev in self.queue.in_order().into_iter().chain(waiting) {
            if let Ev::Deliver { src, dst, msg, .. } = ev {
                network.send(Envelope {
                    src: *src,
                    dst: *dst,
                    msg: msg.clone(),
                });
            }
        }
        self.state.network = network;
        for (slot, rt) in self.state.nodes.iter_mut().zip(&self.nodes) {
            let mut timers: Vec<N::Timer> = rt.timers.keys().cloned().collect();
            timers.sort();
            slot.timers = timers;
        }
        let failed = properties
            .iter()
            .find(|p| !p.holds(system, &self.state))
            .map(|p| p.name.clone());
        self.state.network.retain(|_| false);
        for slot in &mut self.state.nodes {
            slot.timers.clear();
        }
        match failed {
            Some(property) => {
                self.report.violation = Some(SimViolation {
                    property,
                    at: Duration::from_nanos(self.now),
                    events: self.report.events,
                });
                true
            }
            None => false,
        }
    }
}
