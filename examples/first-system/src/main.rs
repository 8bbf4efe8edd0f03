// ANCHOR: all
//! Your first Prophet system: a ticket dispenser with one choice and one
//! invariant, checked by the explorer, first with a bug and then fixed.

use prophet::prelude::*;
use serde::{Deserialize, Serialize};

// ANCHOR: data
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
enum Msg {
    Request,
    Ticket(u32),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum State {
    Server { next: u32 },
    Client { ticket: Option<u32> },
}
// ANCHOR_END: data

// ANCHOR: role
#[derive(Clone)]
enum Role {
    /// A server hands out `first`, `first + stride`, `first + 2 * stride`, …
    Server { first: u32, stride: u32 },
    /// A client asks one of `servers` for a ticket.
    Client { servers: Vec<NodeId> },
}
// ANCHOR_END: role

impl Node for Role {
    type State = State;
    type Msg = Msg;
    type Timer = ();
    type Durable = ();

    fn init(&self, _id: NodeId, _recovered: Option<()>) -> State {
        match self {
            Role::Server { first, .. } => State::Server { next: *first },
            Role::Client { .. } => State::Client { ticket: None },
        }
    }

    // ANCHOR: on_start
    fn on_start(&self, _: &mut State, ctx: &mut Ctx<'_, Self>) {
        if let Role::Client { servers } = self {
            let server = ctx.choose("ticket.server", servers);
            ctx.send(server, Msg::Request);
        }
    }
    // ANCHOR_END: on_start

    // ANCHOR: on_message
    fn on_message(&self, state: &mut State, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, state, msg) {
            (Role::Server { stride, .. }, State::Server { next }, Msg::Request) => {
                ctx.send(from, Msg::Ticket(*next));
                *next += stride;
            }
            (Role::Client { .. }, State::Client { ticket }, Msg::Ticket(t)) => *ticket = Some(t),
            _ => {}
        }
    }
    // ANCHOR_END: on_message

    fn durable(&self, _: &State) {}
}

// ANCHOR: system
/// Two servers and two clients. The first version (`fixed: false`) starts
/// both servers at ticket 0; the fixed one gives server `i` of 2 the
/// tickets `i, i + 2, i + 4, …`.
fn tickets(fixed: bool) -> System<Role> {
    let server = |i: u32| {
        if fixed {
            Role::Server {
                first: i,
                stride: 2,
            }
        } else {
            Role::Server {
                first: 0,
                stride: 1,
            }
        }
    };
    let servers = vec![NodeId(0), NodeId(1)];
    let nodes = vec![
        server(0),
        server(1),
        Role::Client {
            servers: servers.clone(),
        },
        Role::Client { servers },
    ];
    System::new("tickets", nodes)
        .network(NetworkSemantics {
            delivery: Delivery::UnorderedNonDuplicating,
            lossy: false,
        })
        .always("unique tickets", |_, s| {
            let tickets: Vec<u32> = s
                .states()
                .filter_map(|(_, st)| match st {
                    State::Client { ticket } => *ticket,
                    _ => None,
                })
                .collect();
            let mut unique = tickets.clone();
            unique.sort();
            unique.dedup();
            unique.len() == tickets.len()
        })
}
// ANCHOR_END: system

// ANCHOR: main
fn main() {
    // The first version hands out duplicate tickets: breadth-first search
    // finds a shortest trace to a state where two clients hold the same one.
    println!("{}", Explorer::new(&tickets(false)).run());
    println!();
    // The fixed version: every reachable state explored, no violation.
    println!("{}", Explorer::new(&tickets(true)).run());
}
// ANCHOR_END: main
// ANCHOR_END: all
