//! NAT: the address peers should see. Behind NAT the engine advertises its external address
//! (Via, Contact, Record-Route), except toward its own local networks, where peers reach it by
//! its bound address: drachtio-server's `external-ip` and `local-net` settings.

use std::net::IpAddr;

/// A network in CIDR notation, e.g. `10.132.0.0/20` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalNet {
    net: IpAddr,
    bits: u8,
}

impl LocalNet {
    pub fn parse(s: &str) -> Result<LocalNet, String> {
        let bad = || format!("invalid local network '{s}': expected CIDR notation such as 10.0.0.0/8");
        let (ip, bits) = s.trim().split_once('/').ok_or_else(bad)?;
        let net: IpAddr = ip.parse().map_err(|_| bad())?;
        let bits: u8 = bits.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        if bits > max {
            return Err(bad());
        }
        Ok(LocalNet { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let mask = |width: u32| if self.bits == 0 { 0 } else { u128::MAX << (width - u32::from(self.bits)) };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => (u128::from(u32::from(n)) ^ u128::from(u32::from(a))) & mask(32) & u128::from(u32::MAX) == 0,
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n) ^ u128::from(a)) & mask(128) == 0,
            _ => false,
        }
    }
}

/// Whether a message to `to` should carry the external address rather than the bound one.
pub fn advertise_external(local_nets: &[LocalNet], to: IpAddr) -> bool {
    !local_nets.iter().any(|n| n.contains(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn cidr_membership() {
        let n = LocalNet::parse("10.132.0.0/20").expect("cidr");
        assert!(n.contains(ip("10.132.15.255")) && n.contains(ip("10.132.0.1")));
        assert!(!n.contains(ip("10.132.16.0")) && !n.contains(ip("::1")));
        assert!(LocalNet::parse("0.0.0.0/0").expect("all").contains(ip("8.8.8.8")));
        let v6 = LocalNet::parse("fd00::/8").expect("v6");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in ["10.0.0.0", "10.0.0.0/33", "x/8", "::/129"] {
            assert!(LocalNet::parse(bad).is_err(), "{bad}");
        }
        let nets = [n];
        assert!(!advertise_external(&nets, ip("10.132.1.1")));
        assert!(advertise_external(&nets, ip("203.0.113.9")));
        assert!(advertise_external(&[], ip("10.132.1.1")));
    }
}
