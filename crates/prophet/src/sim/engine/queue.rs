//! The run's event queue: events ordered by time, ties broken by the order
//! they were scheduled in (a sequence number).
//!
//! Most events arrive in time order: a handler runs at `now`, which never
//! decreases, and with a constant link latency its messages land at
//! `now + latency`, so each is due no earlier than the last one scheduled.
//! Those go to a FIFO lane (a push and a pop at the ends of a ring buffer);
//! only an event due before the lane's last one goes to a binary heap. The
//! lane is sorted by (time, sequence) because every newcomer has the largest
//! sequence number and a time no earlier than its predecessor's, so taking
//! the smaller of the lane's front and the heap's top pops events in
//! exactly the order one heap of everything would.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// A heap entry: when, the tie-breaking sequence number, and the slot of
/// [`EventQueue::slots`] that holds the event. The heap moves 24-byte
/// entries whatever the event's size (whole events made its sifts the
/// loop's largest cost).
#[derive(Clone, Copy)]
struct Scheduled {
    at: u64,
    seq: u64,
    slot: u32,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap and we pop the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// An event in the lane, with its time and sequence number.
struct Laned<E> {
    at: u64,
    seq: u64,
    ev: E,
}

/// Events by (time, sequence number); see the module comment.
pub(super) struct EventQueue<E> {
    /// Events due no earlier than their predecessor here, in push order.
    lane: VecDeque<Laned<E>>,
    /// The others.
    heap: BinaryHeap<Scheduled>,
    /// The heap's events, by the slot their entry names.
    slots: Vec<Option<E>>,
    /// Slots free for reuse.
    free: Vec<u32>,
    /// The last sequence number given.
    seq: u64,
}

impl<E> EventQueue<E> {
    pub(super) fn new() -> Self {
        EventQueue {
            lane: VecDeque::new(),
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }

    /// Schedules `ev` at `at`, after every event already scheduled at `at`.
    #[inline]
    pub(super) fn push(&mut self, at: u64, ev: E) {
        self.seq += 1;
        let seq = self.seq;
        if self.lane.back().is_none_or(|last| last.at <= at) {
            self.lane.push_back(Laned { at, seq, ev });
        } else {
            self.push_heap(at, seq, ev);
        }
    }

    /// The out-of-order case of [`EventQueue::push`], kept out of line so
    /// that the lane's case inlines into its callers.
    #[inline(never)]
    fn push_heap(&mut self, at: u64, seq: u64, ev: E) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(ev);
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 pending events");
                self.slots.push(Some(ev));
                slot
            }
        };
        self.heap.push(Scheduled { at, seq, slot });
    }

    /// Whether the next event is the lane's (else the heap's); `None` when
    /// nothing is scheduled.
    #[inline]
    fn next_in_lane(&self) -> Option<bool> {
        match (self.lane.front(), self.heap.peek()) {
            (Some(l), Some(h)) => Some((l.at, l.seq) < (h.at, h.seq)),
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (None, None) => None,
        }
    }

    /// When the next event is due.
    #[inline]
    pub(super) fn peek_at(&self) -> Option<u64> {
        match self.next_in_lane()? {
            true => self.lane.front().map(|l| l.at),
            false => self.heap.peek().map(|h| h.at),
        }
    }

    /// Takes the next event, with its time.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<(u64, E)> {
        if self.next_in_lane()? {
            return self.lane.pop_front().map(|l| (l.at, l.ev));
        }
        self.pop_heap()
    }

    /// The heap's case of [`EventQueue::pop`], out of line (see `push_heap`).
    #[inline(never)]
    fn pop_heap(&mut self) -> Option<(u64, E)> {
        let next = self.heap.pop()?;
        let ev = self.slots[next.slot as usize]
            .take()
            .expect("a scheduled slot holds its event");
        self.free.push(next.slot);
        Some((next.at, ev))
    }

    /// Every scheduled event, in the order they will run.
    pub(super) fn in_order(&self) -> Vec<&E> {
        let mut all: Vec<(u64, u64, &E)> = (self.lane.iter())
            .map(|l| (l.at, l.seq, &l.ev))
            .chain(self.heap.iter().filter_map(|s| {
                let ev = self.slots[s.slot as usize].as_ref()?;
                Some((s.at, s.seq, ev))
            }))
            .collect();
        all.sort_unstable_by_key(|&(at, seq, _)| (at, seq));
        all.into_iter().map(|(_, _, ev)| ev).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::EventQueue;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The queue pops what one heap ordered by (time, push order) pops,
    /// whether times mostly increase (the lane) or jump about (the heap).
    #[test]
    fn pops_in_time_then_push_order() {
        for spread in [0u64, 1, 3, 1_000] {
            let mut rng = ChaCha8Rng::seed_from_u64(spread);
            let mut queue = EventQueue::new();
            let mut reference = std::collections::BTreeMap::new();
            let (mut now, mut pushed) = (0u64, 0u64);
            for round in 0..20_000u64 {
                if round % 3 != 2 {
                    // Mostly `now + 10`, sometimes earlier or later.
                    let at = now + 10 + rng.random_range(0..=spread) - spread.min(10) / 2;
                    pushed += 1;
                    queue.push(at, pushed);
                    reference.insert((at, pushed), pushed);
                } else if let Some((at, ev)) = queue.pop() {
                    let ((want_at, _), want) = reference.pop_first().expect("same length");
                    assert_eq!((at, ev), (want_at, want));
                    now = at;
                }
                assert_eq!(
                    queue.peek_at(),
                    reference.first_key_value().map(|(&(at, _), _)| at)
                );
            }
            let order: Vec<u64> = queue.in_order().into_iter().copied().collect();
            let want: Vec<u64> = reference.values().copied().collect();
            assert_eq!(order, want);
            while let Some((at, ev)) = queue.pop() {
                let ((want_at, _), want) = reference.pop_first().expect("same length");
                assert_eq!((at, ev), (want_at, want));
            }
            assert!(reference.is_empty());
        }
    }
}
