//! Counts the Kubernetes API requests this process makes, by read (GET) and
//! write (everything else), for the JSON summary beside the AWS call counts.
//! A no-op `up` should make no Kubernetes write at all.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

static READS: AtomicU64 = AtomicU64::new(0);
static WRITES: AtomicU64 = AtomicU64::new(0);

/// Kubernetes requests made so far by this process.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct KubeCalls {
    pub read: u64,
    pub write: u64,
}

pub fn stats() -> KubeCalls {
    KubeCalls {
        read: READS.load(Ordering::Relaxed),
        write: WRITES.load(Ordering::Relaxed),
    }
}

/// Records one request (called by the client's request layer). Access
/// reviews are POSTs that change nothing, so they count as reads.
pub fn record(method: &http::Method, path: &str) {
    let review =
        path.ends_with("/selfsubjectaccessreviews") || path.ends_with("/selfsubjectrulesreviews");
    let counter = if method == http::Method::GET || method == http::Method::HEAD || review {
        &READS
    } else {
        &WRITES
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A layer for kube's `ClientBuilder` that records every request it sends.
pub fn layer<B>() -> tower::util::MapRequestLayer<fn(http::Request<B>) -> http::Request<B>> {
    fn count<B>(req: http::Request<B>) -> http::Request<B> {
        record(req.method(), req.uri().path());
        req
    }
    tower::util::MapRequestLayer::new(count::<B>)
}
