//! Which addresses a connector may connect to, and the DNS resolver that enforces it.
//!
//! A grant names hosts, but a connection goes to an address. A name that resolves to
//! a loopback, private, link-local (cloud metadata at 169.254.169.254 among them),
//! unique-local or unspecified address would let a connector reach the operator's
//! own network through a public-looking grant, or through a DNS answer that changes
//! between check and use (rebinding). So the host resolves names itself, refuses
//! the name if any of its addresses is refused, and hands exactly the checked
//! addresses to the connection: no second lookup happens. Only a grant that names
//! an address literally (`http://127.0.0.1:8089`) reaches such an address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address may not be connected to, or `None` when it may.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            // ::ffff:a.b.c.d is the IPv4 address a.b.c.d on a dual-stack socket.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            refused_v6(v6)
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if ip.is_unspecified() || a == 0 {
        "unspecified"
    } else if a == 100 && (64..128).contains(&b) {
        "shared (carrier-grade NAT)"
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        "broadcast, multicast or reserved"
    } else {
        return None;
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() {
        "unspecified"
    } else if first & 0xfe00 == 0xfc00 {
        "unique-local"
    } else if first & 0xffc0 == 0xfe80 {
        "link-local"
    } else if ip.is_multicast() {
        "multicast"
    } else if let Some(v4) = ip.to_ipv4() {
        // IPv4-compatible (::a.b.c.d) forms reach IPv4 addresses on some stacks.
        return refused_v4(v4).map(|_| "IPv4-compatible form of a refused address");
    } else {
        return None;
    })
}

/// A resolved name had an address the connector may not reach.
#[derive(Debug, thiserror::Error)]
#[error("`{name}` resolves to {ip}, a {why} address, which only a grant naming that address literally allows")]
pub struct RefusedAddress {
    /// The name looked up.
    pub name: String,
    /// The refused address.
    pub ip: IpAddr,
    /// What kind of address it is.
    pub why: &'static str,
}

/// The resolver of every connector's HTTP client: the system's lookup, then the
/// address check above.
pub struct CheckedResolver;

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for a in &addrs {
                if let Some(why) = refused(a.ip()) {
                    return Err(Box::new(RefusedAddress { name: host, ip: a.ip(), why }) as _);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Option<&'static str> {
        refused(s.parse().unwrap())
    }

    #[test]
    fn refuses_internal_addresses() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
        ] {
            assert_eq!(r(ip), Some(why), "{ip}");
        }
        for ip in ["140.82.112.6", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert_eq!(r(ip), None, "{ip}");
        }
    }
}
