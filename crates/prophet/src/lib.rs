//! Prophet: write a distributed protocol once, as deterministic node state
//! machines with named **choices**, **invariants** and **objectives**; then
//! model-check it, simulate it and run it, from the same code.
//!
//! This crate holds the parts that do no I/O: the programming model
//! ([`model`]), the state-space explorer ([`explore`]) and the
//! deterministic simulator ([`sim`]).
//!
//! # A first system
//!
//! ```
//! use prophet::prelude::*;
//! use serde::{Deserialize, Serialize};
//! use std::time::Duration;
//!
//! /// Every node forwards a token to a peer it chooses; it must never hold two.
//! #[derive(Clone)]
//! struct Token;
//!
//! #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
//! struct Holding { tokens: u8 }
//!
//! impl Node for Token {
//!     type State = Holding;
//!     type Msg = u8;
//!     type Timer = ();
//!     type Durable = ();
//!
//!     fn init(&self, id: NodeId, _: Option<()>) -> Holding {
//!         Holding { tokens: u8::from(id == NodeId(0)) }
//!     }
//!     fn on_start(&self, state: &mut Holding, ctx: &mut Ctx<'_, Self>) {
//!         if state.tokens > 0 {
//!             ctx.set_timer((), Duration::from_millis(10));
//!         }
//!     }
//!     fn on_message(&self, state: &mut Holding, ctx: &mut Ctx<'_, Self>, _: NodeId, _: u8) {
//!         state.tokens += 1;
//!         ctx.set_timer((), Duration::from_millis(10));
//!     }
//!     fn on_timer(&self, state: &mut Holding, ctx: &mut Ctx<'_, Self>, _: ()) {
//!         let peers: Vec<NodeId> =
//!             (0..ctx.node_count()).map(NodeId::from).filter(|&p| p != ctx.id()).collect();
//!         let to = ctx.choose("next_holder", &peers);
//!         state.tokens -= 1;
//!         ctx.send(to, 1);
//!     }
//!     fn durable(&self, _: &Holding) {}
//! }
//!
//! let system = System::new("token", vec![Token, Token, Token])
//!     .always("one token", |_, s| s.states().map(|(_, h)| h.tokens as usize).sum::<usize>()
//!         + s.in_flight().map(|(_, n)| n as usize).sum::<usize>() == 1);
//! let report = Explorer::new(&system).run();
//! assert!(report.complete);
//! assert!(report.violations.is_empty());
//! // 3 states with a holder and its timer + 6 with the token in flight (3 × 2 links).
//! assert_eq!(report.unique_states, 9);
//! ```

#![warn(missing_docs)]

pub mod choice;
pub mod explore;
pub mod model;
pub mod predict;
pub mod registry;
pub mod resolve;
pub mod sim;
pub mod steer;

/// The names a protocol author needs.
pub mod prelude {
    pub use crate::explore::{Explorer, Report, Strategy};
    pub use crate::model::Workload;
    pub use crate::model::{
        Aggregate, Ctx, Delivery, Direction, Envelope, Fairness, GlobalState, Model,
        NetworkSemantics, Node, NodeId, Objective, Property, Rename, System,
    };
    pub use crate::sim::{PolicySpec, Simulator};
}

/// The guide's chapter on simulating, compiled as a doctest.
#[doc = include_str!("../../../docs/src/simulating.md")]
#[cfg(doctest)]
pub struct GuideSimulating;
