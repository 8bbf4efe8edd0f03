//! Picking loopback ports for local clusters (`prophet run`, tests, benches).
//!
//! A port found by binding port 0 is an *ephemeral* port: after it is
//! released, the kernel may hand it to any outgoing connection, such as the
//! first node dialling its peers, before the node meant to listen on it has
//! bound it. So ports are taken below the kernel's ephemeral range, from an
//! offset derived from the process id (parallel runs rarely overlap), and
//! each is checked to be bindable at the time it is picked.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// Lowest port handed out.
pub const PORT_MIN: u16 = 12_000;

/// Ports tried before giving up.
pub const ATTEMPTS_MAX: u32 = 4_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The first port of the kernel's ephemeral range (32768 if unknown).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|&p: &u16| p > PORT_MIN + 1_000)
        .unwrap_or(32_768)
}

/// A loopback port that is free now and outside the ephemeral range.
pub fn free_port() -> Result<u16, String> {
    let span = u32::from(ephemeral_start() - PORT_MIN);
    let base = std::process::id().wrapping_mul(97) % span;
    for _ in 0..ATTEMPTS_MAX {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = PORT_MIN + ((base + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(format!(
        "no free loopback port below {} after {ATTEMPTS_MAX} tries",
        ephemeral_start()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_distinct_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..20)
            .map(|_| super::free_port().expect("a port"))
            .collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 20);
        assert!(
            ports
                .iter()
                .all(|&p| p >= super::PORT_MIN && p < super::ephemeral_start())
        );
    }
}
