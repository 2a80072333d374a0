//! Where callbacks may be sent: `http`/`https` URLs only, never a link-local or
//! cloud-metadata address (the instance's credentials live there), and, when
//! `callbacks.allowed_hosts` is set, only to the hosts it names.
//!
//! The URL is checked when a bulk update is submitted (422 naming
//! `options.callbackUrl`) and again at every delivery: an IP literal is checked before
//! sending, a name by [`GuardedResolver`] when the client resolves it, so the address
//! checked is the address connected to (a name that later resolves elsewhere gains
//! nothing). Loopback and private addresses stay allowed: receivers often run beside
//! docket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Names that reach a cloud provider's instance metadata service.
const METADATA_HOSTS: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Why an address may not receive callbacks, if it may not.
pub fn refused_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return refused_v4(Ipv4Addr::from(u32::from(s[6]) << 16 | u32::from(s[7])));
            }
            if v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
                Some("a cloud metadata address")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not a unicast address")
            } else {
                None
            }
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("a cloud metadata address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if ip.octets()[0] == 0 || ip.is_broadcast() || ip.is_multicast() {
        Some("not a unicast address")
    } else {
        None
    }
}

/// Checks a callback URL against the rules above; the message says what is wrong.
pub fn check_url(url: &str, allowed_hosts: &[String]) -> Result<Url, String> {
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
    let host = match raw.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) => {
            check_ip(ip)?;
            ip.to_string()
        }
        Err(_) => {
            let d = raw.trim_end_matches('.').to_ascii_lowercase();
            if METADATA_HOSTS.contains(&d.as_str()) {
                return Err(format!("must not name {d}, a cloud metadata service"));
            }
            d
        }
    };
    if !allowed_hosts.is_empty() && !allowed_hosts.iter().any(|a| host_matches(a, &host)) {
        return Err(format!(
            "names {host}, which is not in the server's callbacks.allowed_hosts"
        ));
    }
    Ok(parsed)
}

fn check_ip(ip: IpAddr) -> Result<(), String> {
    match refused_ip(ip) {
        Some(why) => Err(format!("must not name {ip}, {why}")),
        None => Ok(()),
    }
}

/// `hooks.example.com` matches itself; `*.example.com` matches its subdomains.
fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => pattern.trim_matches(['[', ']']) == host,
    }
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
/// resolves to is refused.
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some((ip, why)) = addrs
                .iter()
                .find_map(|a| refused_ip(a.ip()).map(|why| (a.ip(), why)))
            {
                return Err(Box::new(RefusedAddress(format!(
                    "refused: {host} resolves to {ip}, {why}"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
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
            "http://100.100.100.200/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./",
            "http://0.0.0.0/",
            "ftp://example.com/",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(check_url(url, &[]).is_err(), "{url} was allowed");
        }
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://[::1]/hook",
            "https://hooks.example.com/x",
            "http://10.0.0.5/x",
        ] {
            assert!(check_url(url, &[]).is_ok(), "{url} was refused");
        }
    }

    #[test]
    fn the_allow_list_names_hosts_and_wildcard_subdomains() {
        let allowed = vec!["hooks.example.com".to_owned(), "*.corp.example".to_owned()];
        assert!(check_url("https://hooks.example.com/a", &allowed).is_ok());
        assert!(check_url("https://a.corp.example/a", &allowed).is_ok());
        assert!(check_url("https://corp.example/a", &allowed).is_err());
        assert!(check_url("https://evilcorp.example/a", &allowed).is_err());
        assert!(check_url("http://127.0.0.1/a", &allowed).is_err());
        // Listed or not, a metadata address is refused.
        let listed = vec!["169.254.169.254".to_owned()];
        assert!(check_url("http://169.254.169.254/", &listed).is_err());
    }

    #[tokio::test]
    async fn the_resolver_passes_loopback_names() {
        let name: Name = "localhost".parse().unwrap();
        let addrs: Vec<SocketAddr> = GuardedResolver.resolve(name).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_a_metadata_address() {
        // The system resolver answers an address-shaped name with that address: the
        // same path a DNS name pointing at 169.254.169.254 takes.
        let name: Name = "169.254.169.254".parse().unwrap();
        let err = match GuardedResolver.resolve(name).await {
            Ok(_) => panic!("resolved"),
            Err(e) => e,
        };
        let why = refusal(err.as_ref()).unwrap();
        assert!(why.contains("metadata"), "{why}");
    }
}
