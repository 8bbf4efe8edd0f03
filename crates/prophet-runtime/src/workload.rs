//! The live request generator: offers a system's [`Workload`] to the local
//! client nodes on a fixed schedule, open loop. It owns the schedule and
//! reaches the nodes only through their inboxes.
//!
//! Request `seq` is due at `start + seq / rate`. Each wake-up sends every
//! request due by then, so the offered rate does not depend on how often the
//! timer fires. (One request per tick of a `1 / rate` interval offered about
//! 85% of 50,000 requests/s: tokio's timers have millisecond granularity, and
//! every late tick pushed the rest of the schedule back.) At high rates the
//! generator wakes once per [`WAKE_MIN`] and sends a burst; at low rates it
//! sleeps until the next request is due.
//!
//! A request waits for room in a full inbox (back-pressure), and the
//! generator then catches up on what fell due meanwhile, at most
//! [`BURST_MAX`] requests per wake-up before it yields, so a backlog never
//! starves the runtime's other tasks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prophet::model::{Node, Workload};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::executor::NodeEvent;
use crate::metrics::Registry;

/// Most requests sent in one wake-up before the generator yields.
pub const BURST_MAX: u64 = 1024;

/// Shortest sleep between wake-ups (tokio's timer granularity).
pub const WAKE_MIN: Duration = Duration::from_millis(1);

/// Offers requests `0, 1, ...` of `workload`, request `seq` at
/// `start + seq / rate` to `clients[seq % clients.len()]` when `inboxes`
/// holds that client (each process offers the share of the clients it
/// hosts), at most `requests` in total (0: no limit). Returns when the limit
/// is reached, when an inbox is closed (its node stopped), at once for a
/// rate that is not a positive finite number or a workload without clients,
/// and when the next request's time is past what a clock can hold.
pub async fn offer<N: Node>(
    workload: Arc<dyn Workload<N>>,
    inboxes: BTreeMap<u32, mpsc::Sender<NodeEvent<N>>>,
    metrics: Arc<Registry>,
    rate: f64,
    requests: u64,
) {
    let clients = workload.clients();
    if !(rate.is_finite() && rate > 0.0) || clients.is_empty() {
        return;
    }
    let limit = if requests == 0 { u64::MAX } else { requests };
    let start = Instant::now();
    let mut seq = 0u64;
    while seq < limit {
        let now = Instant::now();
        let mut burst = 0u64;
        while seq < limit && burst < BURST_MAX {
            let Some(due) = due_at(start, seq, rate) else {
                return;
            };
            if due > now {
                break;
            }
            let client = clients[(seq % clients.len() as u64) as usize];
            if let Some(inbox) = inboxes.get(&client.0) {
                let msg = workload.request(client, seq);
                if inbox.send(NodeEvent::Message(client, msg)).await.is_err() {
                    return;
                }
                metrics.record(client.0, "runtime.requests_issued", 1.0);
            }
            seq += 1;
            burst += 1;
        }
        debug_assert!(burst <= BURST_MAX);
        if seq >= limit {
            return;
        }
        if burst == BURST_MAX {
            // Behind schedule: more may be due at once, but others run first.
            tokio::task::yield_now().await;
            continue;
        }
        let Some(next) = due_at(start, seq, rate) else {
            return;
        };
        tokio::time::sleep_until(next.max(Instant::now() + WAKE_MIN)).await;
    }
}

/// When request `seq` is due; `None` past what an `Instant` holds.
fn due_at(start: Instant, seq: u64, rate: f64) -> Option<Instant> {
    let offset = Duration::try_from_secs_f64(seq as f64 / rate).ok()?;
    start.checked_add(offset)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use prophet::model::{Ctx, NodeId};

    use super::*;

    /// A client node; the test reads its inbox directly.
    struct Client;

    impl Node for Client {
        type State = ();
        type Msg = u64;
        type Timer = ();
        type Durable = ();
        fn init(&self, _: NodeId, _: Option<()>) {}
        fn on_message(&self, _: &mut (), _: &mut Ctx<'_, Self>, _: NodeId, _: u64) {}
        fn durable(&self, _: &()) {}
    }

    /// Request `seq` is the message `seq`.
    struct Numbered(Vec<NodeId>);

    impl Workload<Client> for Numbered {
        fn clients(&self) -> Vec<NodeId> {
            self.0.clone()
        }
        fn request(&self, _: NodeId, seq: u64) -> u64 {
            seq
        }
        fn span_metric(&self) -> &'static str {
            "test.request"
        }
    }

    /// Runs the generator for `how_long` of (paused) time with `clients`,
    /// hosting `hosted`, each client's reader stopping for `stall` after its
    /// first request; returns the requests each hosted client received, in
    /// order, and the `runtime.requests_issued` count.
    async fn offered(
        clients: &[u32],
        hosted: &[u32],
        rate: f64,
        requests: u64,
        how_long: Duration,
        stall: Duration,
    ) -> (BTreeMap<u32, Vec<u64>>, u64) {
        let received = Arc::new(Mutex::new(BTreeMap::new()));
        let mut inboxes = BTreeMap::new();
        let mut readers = Vec::new();
        for &id in hosted {
            // A small inbox, read as fast as it fills: back-pressure included.
            let (tx, mut rx) = mpsc::channel::<NodeEvent<Client>>(64);
            inboxes.insert(id, tx);
            let received = Arc::clone(&received);
            readers.push(tokio::spawn(async move {
                let mut stalled = false;
                while let Some(event) = rx.recv().await {
                    if !stalled {
                        stalled = true;
                        tokio::time::sleep(stall).await;
                    }
                    let NodeEvent::Message(to, seq) = event else {
                        panic!("only requests are sent");
                    };
                    assert_eq!(to, NodeId(id), "delivered to itself, from itself");
                    if let Ok(mut r) = received.lock() {
                        r.entry(id).or_insert_with(Vec::new).push(seq);
                    }
                }
            }));
        }
        let metrics = Arc::new(Registry::default());
        let workload = Arc::new(Numbered(clients.iter().map(|&c| NodeId(c)).collect()));
        let generator = tokio::spawn(offer::<Client>(
            workload,
            inboxes,
            Arc::clone(&metrics),
            rate,
            requests,
        ));
        tokio::time::sleep(how_long).await;
        generator.abort();
        let _ = generator.await;
        for reader in readers {
            // The senders went with the generator: each reader drains and ends.
            reader.await.expect("reader");
        }
        let received = received.lock().map(|r| r.clone()).unwrap_or_default();
        (received, metrics.recorded_count("runtime.requests_issued"))
    }

    fn total(received: &BTreeMap<u32, Vec<u64>>) -> u64 {
        received.values().map(|v| v.len() as u64).sum()
    }

    #[tokio::test(start_paused = true)]
    async fn fifty_thousand_per_second_are_offered_within_one_percent() {
        let (received, issued) = offered(
            &[0],
            &[0],
            50_000.0,
            0,
            Duration::from_secs(1),
            Duration::ZERO,
        )
        .await;
        let count = total(&received);
        assert!(
            (49_500..=50_500).contains(&count),
            "{count} requests offered in 1 s at 50,000/s"
        );
        assert_eq!(issued, count, "the metric counts what was offered");
        // In order, none skipped.
        assert!(received[&0].iter().copied().eq(0..count));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_held_up_by_a_full_inbox_are_caught_up_not_lost() {
        // The node reads nothing for 200 ms: the generator waits on the full
        // inbox, then sends the 10,000 requests that fell due in bursts.
        // (One request per tick, as before, lost them: about 40,000 here.)
        let stall = Duration::from_millis(200);
        let (received, issued) =
            offered(&[0], &[0], 50_000.0, 0, Duration::from_secs(1), stall).await;
        let count = total(&received);
        assert!(
            (49_500..=50_500).contains(&count),
            "{count} requests offered in 1 s at 50,000/s with a 200 ms stall"
        );
        assert_eq!(issued, count);
        assert!(received[&0].iter().copied().eq(0..count));
    }

    #[tokio::test(start_paused = true)]
    async fn ten_per_second_offer_ten_or_eleven_in_a_second() {
        // Requests 0..=10 are due at 0, 0.1, ..., 1.0 s; the last is on the edge.
        let (received, issued) =
            offered(&[0], &[0], 10.0, 0, Duration::from_secs(1), Duration::ZERO).await;
        let count = total(&received);
        assert!((10..=11).contains(&count), "{count} requests at 10/s");
        assert_eq!(issued, count);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_go_round_robin_to_the_hosted_clients_up_to_the_limit() {
        // Clients 0, 1, 2; this process hosts 0 and 2; 30 requests in total.
        let (received, issued) = offered(
            &[0, 1, 2],
            &[0, 2],
            1_000.0,
            30,
            Duration::from_secs(1),
            Duration::ZERO,
        )
        .await;
        assert_eq!(received[&0], (0..30).step_by(3).collect::<Vec<u64>>());
        assert_eq!(received[&2], (2..30).step_by(3).collect::<Vec<u64>>());
        assert_eq!(issued, 20, "client 1's requests belong to another process");
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_that_is_not_positive_and_finite_offers_nothing() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let (received, issued) =
                offered(&[0], &[0], rate, 0, Duration::from_secs(1), Duration::ZERO).await;
            assert_eq!((total(&received), issued), (0, 0), "rate {rate}");
        }
    }

    #[test]
    fn a_due_time_past_the_clock_ends_the_schedule_instead_of_panicking() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let _guard = runtime.enter();
        let start = Instant::now();
        assert_eq!(due_at(start, 0, 1e-300), Some(start));
        assert_eq!(due_at(start, 1, 1e-300), None);
        assert_eq!(
            due_at(start, 3, 2.0),
            Some(start + Duration::from_millis(1500))
        );
    }
}
