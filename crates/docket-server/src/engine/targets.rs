//! Where callbacks may be sent: `http`/`https` URLs of at most [`MAX_URL_BYTES`],
//! never a link-local or cloud-metadata address (the instance's credentials live
//! there), and by default never a loopback, private (RFC 1918, CGNAT, ULA) or
//! unspecified address either: a callback URL is chosen by whoever submits a job, and
//! an answer or a timeout from an internal address tells them what listens there (a
//! port scanner). The operator allows such receivers by naming them in
//! `callbacks.allowed_hosts`: a host name (`localhost`, `hooks.internal`), a
//! `*.suffix` wildcard, an address (`127.0.0.1`) or a CIDR block (`10.1.0.0/16`).
//! When the list is not empty, callbacks may go only to what it names.
//!
//! The URL is checked when a bulk update is submitted (422 naming
//! `options.callbackUrl`) and again at every delivery: an IP literal is checked before
//! sending, a name by [`GuardedResolver`] when the client resolves it, so the address
//! checked is the address connected to (a name that later resolves elsewhere gains
//! nothing). A name listed in the allow-list may resolve to a loopback or private
//! address; any other name must resolve only to public addresses, or to addresses
//! inside a listed address or CIDR block.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The longest callback URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Names that reach a cloud provider's instance metadata service.
const METADATA_HOSTS: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Why an address may not receive callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Never, whatever the allow-list says (metadata, link-local, not unicast).
    Always(&'static str),
    /// Only when the allow-list names it (loopback, private, unspecified).
    UnlessAllowed(&'static str),
}

/// Why an address may not receive callbacks by default, if it may not.
pub fn refused_ip(ip: IpAddr) -> Option<Refused> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v6(v6: Ipv6Addr) -> Option<Refused> {
    if v6.is_unspecified() {
        return Some(Refused::UnlessAllowed("an unspecified address"));
    }
    if v6.is_loopback() {
        return Some(Refused::UnlessAllowed("a loopback address"));
    }
    if let Some(v4) = v6.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let s = v6.segments();
    let low_v4 = Ipv4Addr::from(u32::from(s[6]) << 16 | u32::from(s[7]));
    // IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks) and NAT64
    // (64:ff9b::/96) carry an IPv4 address in their last 32 bits.
    if s[..6] == [0, 0, 0, 0, 0, 0] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return refused_v4(low_v4);
    }
    // Local-use NAT64 (64:ff9b:1::/48, RFC 8215) translates into the operator's own
    // network: private, and a metadata address behind it is still refused.
    if s[..3] == [0x64, 0xff9b, 1] {
        return match refused_v4(low_v4) {
            Some(Refused::Always(w)) => Some(Refused::Always(w)),
            _ => Some(Refused::UnlessAllowed("a local-use NAT64 address")),
        };
    }
    // 6to4 (2002::/16) carries an IPv4 address in its second and third segments.
    if s[0] == 0x2002 {
        return refused_v4(Ipv4Addr::from(u32::from(s[1]) << 16 | u32::from(s[2])));
    }
    if v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        Some(Refused::Always("a cloud metadata address"))
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some(Refused::Always("a link-local address"))
    } else if v6.is_multicast() {
        Some(Refused::Always("not a unicast address"))
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some(Refused::UnlessAllowed("a private (unique local) address"))
    } else {
        None
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<Refused> {
    let o = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254)
        || ip == Ipv4Addr::new(100, 100, 100, 200)
        || ip == Ipv4Addr::new(192, 0, 0, 192)
    {
        Some(Refused::Always("a cloud metadata address"))
    } else if ip.is_link_local() {
        Some(Refused::Always("a link-local address"))
    } else if ip.is_broadcast() || ip.is_multicast() {
        Some(Refused::Always("not a unicast address"))
    } else if o[0] == 0 {
        Some(Refused::UnlessAllowed("an unspecified address"))
    } else if ip.is_loopback() {
        Some(Refused::UnlessAllowed("a loopback address"))
    } else if ip.is_private() {
        Some(Refused::UnlessAllowed("a private address"))
    } else if o[0] == 100 && o[1] & 0xc0 == 64 {
        Some(Refused::UnlessAllowed("a shared (CGNAT) address"))
    } else {
        None
    }
}

/// `callbacks.allowed_hosts`, parsed: host names and `*.suffix` patterns, and address
/// blocks (a bare address is a block of one).
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    names: Vec<String>,
    blocks: Vec<(IpAddr, u8)>,
}

impl AllowList {
    pub fn new(entries: &[String]) -> Self {
        let mut list = Self::default();
        for e in entries {
            let e = e.trim().trim_end_matches('.').to_ascii_lowercase();
            match parse_block(&e) {
                Some(block) => list.blocks.push(block),
                None => list.names.push(e),
            }
        }
        list
    }

    fn is_empty(&self) -> bool {
        self.names.is_empty() && self.blocks.is_empty()
    }

    /// Whether a host name (lower case, no trailing dot) is listed by name or pattern.
    fn names_host(&self, host: &str) -> bool {
        self.names.iter().any(|p| match p.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
            None => p == host,
        })
    }

    /// Whether an address lies in a listed address or block.
    fn holds(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.blocks.iter().any(|&(net, len)| in_block(ip, net, len))
    }

    /// Whether a name may connect to `ip`: refused addresses never; loopback and
    /// private ones when the name or the address is listed; others when the list is
    /// empty or names the host or the address.
    fn admits(&self, host: Option<&str>, ip: IpAddr) -> Result<(), String> {
        let named = host.is_some_and(|h| self.names_host(h));
        match refused_ip(ip) {
            Some(Refused::Always(why)) => Err(format!("{ip}, {why}")),
            Some(Refused::UnlessAllowed(_)) if named || self.holds(ip) => Ok(()),
            Some(Refused::UnlessAllowed(why)) => Err(format!(
                "{ip}, {why} (allowed only when callbacks.allowed_hosts names it)"
            )),
            None if self.is_empty() || named || self.holds(ip) => Ok(()),
            None => Err(format!(
                "{ip}, which is not in the server's callbacks.allowed_hosts"
            )),
        }
    }
}

/// `10.1.0.0/16`, `fd00::/8` or a bare address; `None` for anything else (a name).
fn parse_block(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip = canonical(addr.trim_matches(['[', ']']).parse::<IpAddr>().ok()?);
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((ip, len))
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_block(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Checks a callback URL against the rules above; the message says what is wrong.
pub fn check_url(url: &str, allowed: &AllowList) -> Result<Url, String> {
    if url.len() > MAX_URL_BYTES {
        return Err(format!("must be at most {MAX_URL_BYTES} bytes"));
    }
    let parsed = Url::parse(url).map_err(|_| "is not a URL".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    let raw = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("must name a host")?;
    // The URL parser has already turned every IPv4 spelling (2852039166, 0xa9.254...)
    // into dotted form, and IPv6 into brackets.
    match raw.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) => allowed
            .admits(Some(&ip.to_string()), ip)
            .map_err(|m| format!("must not name {m}"))?,
        Err(_) => {
            let d = raw.trim_end_matches('.').to_ascii_lowercase();
            if METADATA_HOSTS.contains(&d.as_str()) {
                return Err(format!("must not name {d}, a cloud metadata service"));
            }
            // A name not listed may still resolve into a listed block: the resolver
            // decides at delivery. With names only in the list, it must be one of them.
            if !allowed.is_empty() && allowed.blocks.is_empty() && !allowed.names_host(&d) {
                return Err(format!(
                    "names {d}, which is not in the server's callbacks.allowed_hosts"
                ));
            }
        }
    }
    Ok(parsed)
}

/// A resolution refused because the name resolves to a refused address.
#[derive(Debug)]
pub struct RefusedAddress(pub String);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedAddress {}

/// The callback client's resolver: the system's, refusing a name if any address it
/// resolves to is not admitted by the allow-list (see the module docs).
pub struct GuardedResolver(pub Arc<AllowList>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let allowed = self.0.clone();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // Every address must pass: the client may connect to any of them.
            if let Some(why) = addrs
                .iter()
                .find_map(|a| allowed.admits(Some(&host), a.ip()).err())
            {
                return Err(
                    Box::new(RefusedAddress(format!("refused: {host} resolves to {why}")))
                        as Box<dyn std::error::Error + Send + Sync>,
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether a client error was a refusal by [`GuardedResolver`] (its message, if so).
pub fn refusal(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<RefusedAddress>() {
            return Some(r.0.clone());
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::new(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn metadata_link_local_and_non_http_urls_are_refused() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.1.1/",
            "http://2852039166/",
            "http://[fd00:ec2::254]/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[::169.254.169.254]/",
            "http://[64:ff9b:1::a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://100.100.100.200/",
            "http://192.0.0.192/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./",
            "ftp://example.com/",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(check_url(url, &list(&[])).is_err(), "{url} was allowed");
            // Listing them changes nothing.
            let listed = list(&["0.0.0.0/0", "::/0", "metadata.google.internal"]);
            assert!(
                check_url(url, &listed).is_err(),
                "{url} was allowed when listed"
            );
        }
    }

    #[test]
    fn loopback_private_and_unspecified_addresses_are_refused_unless_listed() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://127.1.2.3/",
            "http://[::1]/hook",
            "http://[::ffff:127.0.0.1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://2130706433/",
            "http://10.0.0.5/x",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://100.127.255.254/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://0.0.0.0/",
            "http://[::]/",
        ] {
            assert!(check_url(url, &list(&[])).is_err(), "{url} was allowed");
            let open = list(&["0.0.0.0/0", "::/0"]);
            assert!(
                check_url(url, &open).is_ok(),
                "{url} was refused when listed"
            );
        }
        for url in [
            "https://hooks.example.com/x",
            "http://8.8.8.8/",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
            "http://[2001:db8::1]/",
        ] {
            assert!(check_url(url, &list(&[])).is_ok(), "{url} was refused");
        }
    }

    #[test]
    fn the_allow_list_names_hosts_wildcards_addresses_and_blocks() {
        let allowed = list(&["hooks.example.com", "*.corp.example"]);
        assert!(check_url("https://hooks.example.com/a", &allowed).is_ok());
        assert!(check_url("https://a.corp.example/a", &allowed).is_ok());
        assert!(check_url("https://corp.example/a", &allowed).is_err());
        assert!(check_url("https://evilcorp.example/a", &allowed).is_err());
        assert!(check_url("http://127.0.0.1:8080/a", &allowed).is_err());
        let allowed = list(&["hooks.example.com", "127.0.0.1"]);
        assert!(check_url("http://127.0.0.1:8080/a", &allowed).is_ok());
        assert!(check_url("http://127.0.0.2/a", &allowed).is_err());
        assert!(check_url("http://8.8.8.8/a", &allowed).is_err());

        let blocks = list(&["10.1.0.0/16", "127.0.0.0/8"]);
        assert!(check_url("http://10.1.200.3/", &blocks).is_ok());
        assert!(check_url("http://10.2.0.1/", &blocks).is_err());
        assert!(check_url("http://127.9.9.9/", &blocks).is_ok());
        assert!(check_url("http://[::ffff:10.1.0.1]/", &blocks).is_ok());
        assert!(check_url("http://8.8.8.8/", &blocks).is_err());
        // A name may resolve into a listed block: the resolver decides at delivery.
        assert!(check_url("http://svc.internal/", &blocks).is_ok());
        assert!(check_url("http://svc.internal/", &list(&["hooks.example.com"])).is_err());
    }

    #[test]
    fn urls_longer_than_2048_bytes_are_refused() {
        let base = "https://hooks.example.com/";
        let ok = format!("{base}{}", "a".repeat(MAX_URL_BYTES - base.len()));
        assert!(check_url(&ok, &list(&[])).is_ok());
        let long = format!("{ok}a");
        let err = check_url(&long, &list(&[])).unwrap_err();
        assert!(err.contains("2048"), "{err}");
    }

    #[tokio::test]
    async fn the_resolver_refuses_loopback_names_unless_listed() {
        let name: Name = "localhost".parse().unwrap();
        let err = match GuardedResolver(Arc::new(list(&[]))).resolve(name).await {
            Ok(_) => panic!("resolved"),
            Err(e) => e,
        };
        let why = refusal(err.as_ref()).unwrap();
        assert!(why.contains("loopback"), "{why}");

        for entry in ["localhost", "127.0.0.0/8"] {
            let name: Name = "localhost".parse().unwrap();
            let resolver = GuardedResolver(Arc::new(list(&[entry, "::1"])));
            let addrs: Vec<SocketAddr> = resolver.resolve(name).await.unwrap().collect();
            assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_a_metadata_address() {
        // The system resolver answers an address-shaped name with that address: the
        // same path a DNS name pointing at 169.254.169.254 takes.
        let name: Name = "169.254.169.254".parse().unwrap();
        let resolver = GuardedResolver(Arc::new(list(&["169.254.169.254"])));
        let err = match resolver.resolve(name).await {
            Ok(_) => panic!("resolved"),
            Err(e) => e,
        };
        let why = refusal(err.as_ref()).unwrap();
        assert!(why.contains("metadata"), "{why}");
    }
}
