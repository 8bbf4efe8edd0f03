//! Node addresses from the cluster file: `ip:port`, `[ipv6]:port` or
//! `host:port`, checked before anything dials them, so that a malformed
//! address is refused at start with the part that is wrong.

use std::net::{Ipv6Addr, SocketAddr};

/// A node address from the cluster file: an IP socket address, or a host
/// name and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAddr {
    /// Used as is.
    Ip(SocketAddr),
    /// A name, resolved by whoever dials it.
    Name {
        /// A DNS name (relative, or absolute with a final dot).
        host: String,
        /// The port.
        port: u16,
    },
}

/// Why an address is not `host:port`. [`AddrError::part`] names the part
/// that is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    /// No `:port` at the end.
    #[error(
        "`{addr}` has no port: expected host:port, e.g. `prophet-0.prophet:7000` or `10.0.0.1:7000`"
    )]
    NoPort {
        /// The whole address.
        addr: String,
    },
    /// The port is not a number from 1 to 65535.
    #[error("`{addr}`: port `{port}` is not a number from 1 to 65535")]
    BadPort {
        /// The whole address.
        addr: String,
        /// The text after the last `:`.
        port: String,
    },
    /// Nothing before the `:port`.
    #[error("`{addr}` has an empty host: expected host:port")]
    EmptyHost {
        /// The whole address.
        addr: String,
    },
    /// The host is neither an IP address nor a valid DNS name.
    #[error("`{addr}`: host `{host}` {why}")]
    BadHost {
        /// The whole address.
        addr: String,
        /// The text before the port.
        host: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl AddrError {
    /// The part of `host:port` that is wrong: `"host"` or `"port"`.
    pub fn part(&self) -> &'static str {
        match self {
            AddrError::NoPort { .. } | AddrError::BadPort { .. } => "port",
            AddrError::EmptyHost { .. } | AddrError::BadHost { .. } => "host",
        }
    }
}

impl PeerAddr {
    /// Parses `ip:port`, `[ipv6]:port` or `host:port`; every error names
    /// the wrong part. Port 0 is refused: nobody can dial it.
    pub fn parse(text: &str) -> Result<PeerAddr, AddrError> {
        let addr = || text.to_string();
        if let Ok(ip) = text.parse::<SocketAddr>() {
            if ip.port() == 0 {
                return Err(AddrError::BadPort {
                    addr: addr(),
                    port: "0".into(),
                });
            }
            return Ok(PeerAddr::Ip(ip));
        }
        if let Some(rest) = text.strip_prefix('[') {
            // An IPv6 literal that did not parse as a socket address.
            let Some((inner, after)) = rest.split_once(']') else {
                return Err(AddrError::BadHost {
                    addr: addr(),
                    host: text.into(),
                    why: "opens `[` without a closing `]`",
                });
            };
            let Some(port) = after.strip_prefix(':') else {
                return Err(AddrError::NoPort { addr: addr() });
            };
            parse_port(text, port)?;
            if inner.parse::<Ipv6Addr>().is_err() {
                return Err(AddrError::BadHost {
                    addr: addr(),
                    host: format!("[{inner}]"),
                    why: "is not an IPv6 address",
                });
            }
            // Both parts are valid, so the socket address should have parsed.
            return Err(AddrError::BadHost {
                addr: addr(),
                host: format!("[{inner}]"),
                why: "is not a valid IPv6 socket address",
            });
        }
        if text.trim().is_empty() {
            return Err(AddrError::EmptyHost { addr: addr() });
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(AddrError::NoPort { addr: addr() });
        };
        if host.is_empty() {
            return Err(AddrError::EmptyHost { addr: addr() });
        }
        let port = parse_port(text, port)?;
        if host.contains(':') {
            return Err(AddrError::BadHost {
                addr: addr(),
                host: host.into(),
                why: "contains `:`: write an IPv6 address in brackets, e.g. `[fd00::1]:7000`",
            });
        }
        if let Err(why) = check_name(host) {
            return Err(AddrError::BadHost {
                addr: addr(),
                host: host.into(),
                why,
            });
        }
        Ok(PeerAddr::Name {
            host: host.to_string(),
            port,
        })
    }
}

fn parse_port(addr: &str, port: &str) -> Result<u16, AddrError> {
    let bad = || AddrError::BadPort {
        addr: addr.to_string(),
        port: port.to_string(),
    };
    if port.is_empty() {
        return Err(AddrError::NoPort {
            addr: addr.to_string(),
        });
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(p) => Ok(p),
    }
}

/// Checks `host` is a DNS name (RFC 1123 labels, `_` allowed as in service
/// records, an optional final dot). Returns what is wrong.
fn check_name(host: &str) -> Result<(), &'static str> {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return Err("is not a DNS name");
    }
    if name.len() > 253 {
        return Err("is longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("has an empty label (`..` or a leading `.`)");
        }
        if label.len() > 63 {
            return Err("has a label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("may contain only letters, digits, `-`, `_` and `.`");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a label that starts or ends with `-`");
        }
    }
    if name
        .rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("looks like an IPv4 address but is not one");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_are_used_as_is() {
        for text in ["10.0.0.1:7000", "[fd00::1]:7000", "127.0.0.1:1"] {
            let parsed = PeerAddr::parse(text).expect(text);
            assert_eq!(parsed, PeerAddr::Ip(text.parse().expect("socket address")));
        }
    }

    #[test]
    fn names_parse_into_host_and_port() {
        for (text, host, port) in [
            ("prophet-0.prophet:7000", "prophet-0.prophet", 7000),
            ("localhost:1", "localhost", 1),
            ("a.b.c.example.:65535", "a.b.c.example.", 65535),
            ("_svc.node-1:80", "_svc.node-1", 80),
        ] {
            assert_eq!(
                PeerAddr::parse(text),
                Ok(PeerAddr::Name {
                    host: host.into(),
                    port
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_addresses_name_the_wrong_part() {
        for (text, part) in [
            ("prophet-0.prophet", "port"),
            ("prophet-0.prophet:", "port"),
            ("prophet-0.prophet:70000", "port"),
            ("prophet-0.prophet:0", "port"),
            ("10.0.0.1:0", "port"),
            ("prophet-0.prophet:+80", "port"),
            ("prophet-0.prophet:http", "port"),
            ("[fd00::1]", "port"),
            ("[fd00::1]:99999", "port"),
            (":7000", "host"),
            ("", "host"),
            ("   ", "host"),
            ("fd00::1:7000", "host"),
            ("[fd00::zz]:7000", "host"),
            ("[fd00::1:7000", "host"),
            ("prophet 0:7000", "host"),
            ("prophet..x:7000", "host"),
            (".prophet:7000", "host"),
            ("-prophet:7000", "host"),
            ("10.0.0.300:7000", "host"),
            ("a/b:7000", "host"),
        ] {
            let error = PeerAddr::parse(text).expect_err(text);
            assert_eq!(error.part(), part, "{text}: {error}");
            assert!(
                error.to_string().contains(&format!("`{text}`")),
                "the message quotes the address: {error}"
            );
        }
        let long = format!("{}:7000", "a".repeat(64));
        assert_eq!(PeerAddr::parse(&long).map_err(|e| e.part()), Err("host"));
    }
}
