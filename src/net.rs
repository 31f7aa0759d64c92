//! Client addresses: normalization and internal/external classification.
//!
//! Addresses are compared as IPv6 (IPv4 mapped into `::ffff:0:0/96`) so one longest-prefix
//! table serves both families, and the most specific range wins: a VPN or DMZ range declared
//! external inside `10.0.0.0/8` is external even though `10.0.0.0/8` is internal.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::Serialize;

/// Turns an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) into the IPv4 address it carries.
#[must_use]
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 @ IpAddr::V4(_) => v4,
    }
}

fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Where a client sits relative to the monitored server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetClass {
    /// Inside the networks declared internal (loopback, private ranges, `--internal`).
    Internal,
    /// Anywhere else, or inside a range declared `--external`.
    External,
    /// The log did not say where the client was.
    Unknown,
}

impl fmt::Display for NetClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Internal => "internal",
            Self::External => "external",
            Self::Unknown => "unknown",
        })
    }
}

/// An address range such as `10.0.0.0/8` or `fc00::/7`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    bits: u128,
    /// Prefix length in the IPv6 space (an IPv4 /8 is stored as /104).
    len: u8,
}

/// Why a CIDR string was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadCidr(pub String);

impl fmt::Display for BadCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid network {:?} (expected an address or CIDR such as 10.0.0.0/8 or 2001:db8::/32)", self.0)
    }
}

impl std::error::Error for BadCidr {}

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(s: &str) -> Result<Self, BadCidr> {
        let bad = || BadCidr(s.to_owned());
        let (addr, len) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let ip = IpAddr::from_str(addr).map_err(|_| bad())?;
        let len = match (normalize(ip), len) {
            (IpAddr::V4(_), Some(l)) if l <= 32 => l + 96,
            (IpAddr::V4(_), None) => 128,
            (IpAddr::V6(_), Some(l)) if l <= 128 => l,
            (IpAddr::V6(_), None) => 128,
            _ => return Err(bad()),
        };
        let bits = to_bits(normalize(ip)) & mask(len);
        Ok(Self { bits, len })
    }
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl Cidr {
    /// Whether `ip` falls inside this range.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.contains_bits(to_bits(normalize(ip)))
    }

    /// [`Self::contains`] for an address already in the IPv6 space.
    fn contains_bits(&self, bits: u128) -> bool {
        bits & mask(self.len) == self.bits
    }
}

/// Internal and external ranges, resolved by longest prefix.
#[derive(Clone, Debug, Default)]
pub struct Networks {
    /// Sorted by prefix length, longest first, so the first hit is the most specific.
    ranges: Vec<(Cidr, NetClass)>,
    /// `ranges` as an IPv4 address sees them, in the same order: (network, mask) in 32 bits.
    /// A range outside `::ffff:0:0/96` holds no IPv4 address and is left out; one around
    /// all of it holds every IPv4 address (mask 0).
    v4: Vec<(u32, u32, NetClass)>,
}

/// `::ffff:0:0/96`, where IPv4 addresses sit in the IPv6 space.
const V4_MAPPED: u128 = 0xffff_0000_0000;

/// Ranges internal unless configured otherwise: loopback, RFC 1918, CGNAT, ULA and link-local.
pub const DEFAULT_INTERNAL: &[&str] = &[
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

impl Networks {
    /// Builds the table from the defaults plus user ranges. At equal prefix length a range
    /// declared external beats one declared internal (the cautious choice).
    ///
    /// # Errors
    /// The first string that is not an address or CIDR.
    pub fn new<S: AsRef<str>>(internal: &[S], external: &[S]) -> Result<Self, BadCidr> {
        let mut ranges: Vec<(Cidr, NetClass)> = Vec::new();
        for s in DEFAULT_INTERNAL {
            ranges.push((s.parse::<Cidr>()?, NetClass::Internal));
        }
        for s in internal {
            ranges.push((s.as_ref().parse()?, NetClass::Internal));
        }
        for s in external {
            ranges.push((s.as_ref().parse()?, NetClass::External));
        }
        ranges.sort_by(|(a, ac), (b, bc)| {
            b.len
                .cmp(&a.len)
                .then_with(|| (*ac == NetClass::Internal).cmp(&(*bc == NetClass::Internal)))
        });
        let v4 = ranges
            .iter()
            .filter_map(|(c, class)| {
                if c.len >= 96 && c.bits >> 32 == V4_MAPPED >> 32 {
                    // Within the IPv4 space: the low 32 bits of network and mask.
                    Some((c.bits as u32, mask(c.len) as u32, *class))
                } else {
                    // Around all of it (mask 0), or beside it.
                    c.contains_bits(V4_MAPPED).then_some((0, 0, *class))
                }
            })
            .collect();
        Ok(Self { ranges, v4 })
    }

    /// Classifies a client address; `None` (no address in the log) is [`NetClass::Unknown`].
    #[must_use]
    pub fn classify(&self, ip: Option<IpAddr>) -> NetClass {
        let Some(ip) = ip else {
            return NetClass::Unknown;
        };
        // `::` is what ClickHouse logs for in-process (clickhouse-local, chDB) queries.
        if ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) || ip == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
            return NetClass::Internal;
        }
        let found = match normalize(ip) {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                self.v4
                    .iter()
                    .find(|(net, mask, _)| bits & mask == *net)
                    .map(|(_, _, class)| *class)
            }
            v6 => {
                let bits = to_bits(v6);
                self.ranges
                    .iter()
                    .find(|(c, _)| c.contains_bits(bits))
                    .map(|(_, class)| *class)
            }
        };
        found.unwrap_or(NetClass::External)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn ok_defaults() {
        let n = Networks::new::<&str>(&[], &[]).unwrap();
        assert_eq!(n.classify(ip("127.0.0.1")), NetClass::Internal);
        assert_eq!(n.classify(ip("::ffff:10.1.2.3")), NetClass::Internal);
        assert_eq!(n.classify(ip("198.51.100.7")), NetClass::External);
        assert_eq!(n.classify(ip("fd00::1")), NetClass::Internal);
        assert_eq!(n.classify(ip("2001:db8::1")), NetClass::External);
        assert_eq!(n.classify(None), NetClass::Unknown);
    }

    #[test]
    fn ok_most_specific_wins() {
        let n = Networks::new(&["203.0.113.0/24"], &["10.8.0.0/16"]).unwrap();
        assert_eq!(n.classify(ip("10.8.1.1")), NetClass::External);
        assert_eq!(n.classify(ip("10.9.1.1")), NetClass::Internal);
        assert_eq!(n.classify(ip("203.0.113.9")), NetClass::Internal);
        let n = Networks::new(&["10.8.0.0/16"], &["10.8.0.0/16"]).unwrap();
        assert_eq!(n.classify(ip("10.8.1.1")), NetClass::External);
    }

    /// [`Networks::classify`] as it was: every range in order, in the IPv6 space.
    fn reference_classify(n: &Networks, ip: IpAddr) -> NetClass {
        if ip.is_unspecified() {
            return NetClass::Internal;
        }
        n.ranges
            .iter()
            .find(|(c, _)| c.contains(ip))
            .map_or(NetClass::External, |(_, class)| *class)
    }

    /// Addresses and ranges near the IPv4 space and its edges.
    fn addr() -> impl proptest::strategy::Strategy<Value = IpAddr> {
        use proptest::prelude::*;
        prop_oneof![
            any::<u32>().prop_map(|a| IpAddr::V4(a.into())),
            any::<u32>().prop_map(|a| IpAddr::V6(std::net::Ipv4Addr::from(a).to_ipv6_mapped())),
            any::<u128>().prop_map(|a| IpAddr::V6(a.into())),
            (any::<u32>(), 0_u128..4)
                .prop_map(|(a, hi)| IpAddr::V6((u128::from(a) | ((0xfffe + hi) << 32)).into())),
            proptest::sample::select(vec![0_u32, 0x0a00_0001, 0x7f00_0001, 0xc0a8_0101])
                .prop_map(|a| IpAddr::V4(a.into())),
        ]
    }

    proptest::proptest! {
        /// The IPv4 table answers as the full table does, whatever the ranges.
        #[test]
        fn ok_classify_matches_reference(
            nets in proptest::collection::vec((addr(), 0_u8..=128, proptest::prelude::any::<bool>()), 0..8),
            ips in proptest::collection::vec(addr(), 1..16),
        ) {
            // A mapped address takes an IPv4 prefix length.
            let cidr = |(ip, len, _): &(IpAddr, u8, bool)| match normalize(*ip) {
                IpAddr::V4(a) => format!("{a}/{}", len / 4),
                IpAddr::V6(a) => format!("{a}/{len}"),
            };
            let internal: Vec<String> = nets.iter().filter(|n| n.2).map(cidr).collect();
            let external: Vec<String> = nets.iter().filter(|n| !n.2).map(cidr).collect();
            let n = Networks::new(&internal, &external).unwrap();
            for ip in ips {
                proptest::prop_assert_eq!(n.classify(Some(ip)), reference_classify(&n, ip), "{}", ip);
            }
        }
    }

    #[test]
    fn ok_ipv4_table_covers_wide_v6_ranges() {
        // `::/80` holds every IPv4 address (as `::ffff:a.b.c.d`), `::/0` everything.
        let n = Networks::new(&["::/0", "10.2.0.0/16"], &["::/80", "10.1.0.0/16"]).unwrap();
        assert_eq!(n.classify(ip("10.1.2.3")), NetClass::External);
        assert_eq!(n.classify(ip("10.2.2.3")), NetClass::Internal);
        assert_eq!(n.classify(ip("10.3.2.3")), NetClass::Internal);
        assert_eq!(n.classify(ip("8.8.8.8")), NetClass::External);
        assert_eq!(n.classify(ip("::ffff:8.8.8.8")), NetClass::External);
        assert_eq!(n.classify(ip("2001:db8::1")), NetClass::Internal);
        assert_eq!(n.classify(ip("::1:2")), NetClass::External);
    }

    #[test]
    fn err_bad_cidr() {
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        assert!("::/129".parse::<Cidr>().is_err());
        assert_eq!(
            normalize("::ffff:1.2.3.4".parse().unwrap()),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
    }
}
