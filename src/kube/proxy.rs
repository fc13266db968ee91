//! Proxies for the Kubernetes API, as curl and Go's net/http decide them:
//! `HTTPS_PROXY` (or the kubeconfig's `proxy-url`) unless `NO_PROXY` covers
//! the API server's host. kube 5 reads `HTTPS_PROXY` by itself but checks
//! `NO_PROXY` against the proxy's own address instead of the API server's,
//! so an endpoint listed in `NO_PROXY` would still go through the proxy
//! (kube-client 5.0, `config/file_loader.rs`, `proxy_url`); eksscale decides
//! here instead. Corporate and CI shells set these variables.

use std::net::IpAddr;

use ipnet::IpNet;

/// `NO_PROXY` / `no_proxy`, parsed.
#[derive(Debug, Clone, Default)]
pub struct NoProxy {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
enum Entry {
    /// `*`: no proxy for anything.
    All,
    Ip(IpAddr),
    Net(IpNet),
    /// A host name, and with it its subdomains (`example.com`, `.example.com`).
    Domain(String),
}

impl NoProxy {
    /// From the environment (`NO_PROXY`, else `no_proxy`).
    pub fn from_env() -> Self {
        let v = std::env::var("NO_PROXY")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| std::env::var("no_proxy").ok())
            .unwrap_or_default();
        Self::parse(&v)
    }

    pub fn parse(list: &str) -> Self {
        let entries = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| {
                if e == "*" {
                    return Entry::All;
                }
                if let Ok(net) = e.parse::<IpNet>() {
                    return Entry::Net(net);
                }
                // `[::1]` or `host:port`: the port does not narrow it here.
                let host = e.trim_start_matches('[').split(']').next().unwrap_or(e);
                if let Ok(ip) = host.parse::<IpAddr>() {
                    return Entry::Ip(ip);
                }
                let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                Entry::Domain(host.trim_start_matches('.').to_ascii_lowercase())
            })
            .collect();
        Self { entries }
    }

    /// Whether requests to `host` bypass the proxy.
    pub fn covers(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|e| match e {
            Entry::All => true,
            Entry::Ip(a) => ip == Some(*a),
            Entry::Net(n) => ip.is_some_and(|ip| n.contains(&ip)),
            Entry::Domain(d) => host == *d || host.ends_with(&format!(".{d}")),
        })
    }
}

/// Drops the proxy from a client configuration whose API server `NO_PROXY`
/// covers; keeps it (HTTP CONNECT, kube's `http-proxy` feature) otherwise.
pub fn apply(config: &mut kube::Config) {
    apply_with(config, &NoProxy::from_env());
}

fn apply_with(config: &mut kube::Config, no_proxy: &NoProxy) {
    if config.proxy_url.is_some()
        && let Some(host) = config.cluster_url.host()
        && no_proxy.covers(host)
    {
        config.proxy_url = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hosts_domains_ips_and_networks_like_curl_and_go() {
        let n = NoProxy::parse(
            "localhost, .eks.amazonaws.com,internal.example.com:8443,10.0.0.0/8,192.168.1.5,[::1]",
        );
        assert!(n.covers("localhost"));
        assert!(n.covers("ABC.gr7.us-west-2.eks.amazonaws.com"));
        assert!(n.covers("eks.amazonaws.com"));
        assert!(n.covers("internal.example.com"));
        assert!(n.covers("10.1.2.3"));
        assert!(n.covers("192.168.1.5"));
        assert!(n.covers("[::1]"));
        assert!(!n.covers("example.com"));
        assert!(!n.covers("11.0.0.1"));
        assert!(!n.covers("notamazonaws.com"));
        assert!(NoProxy::parse("*").covers("anything"));
        assert!(!NoProxy::parse("").covers("localhost"));
    }

    #[test]
    fn a_covered_endpoint_goes_direct() {
        let mut c = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        c.proxy_url = Some("http://proxy.corp:3128".parse().unwrap());
        apply_with(&mut c, &NoProxy::parse("127.0.0.1"));
        assert!(c.proxy_url.is_none());
        c.proxy_url = Some("http://proxy.corp:3128".parse().unwrap());
        apply_with(&mut c, &NoProxy::parse("10.0.0.0/8"));
        assert!(c.proxy_url.is_some(), "not covered: through the proxy");
    }
}
