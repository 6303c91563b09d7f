//! The core's side of DNS (dns.rs): answers from a short cache, and for a name not in it, the
//! work that needs it is parked while a task looks the name up, then replayed. The engine
//! thread never waits on the network.

use super::apps::AppId;
use super::build::Draft;
use super::core::Core;
use super::dns::{next_for, resolve, Dns, Next, Query, Targets};
use super::transport::Protocol;
use std::net::SocketAddr;
use crate::app::CmdId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long answers are reused: the resolver underneath honours record TTLs; this only saves
/// a lookup per request to the same name.
const FRESH: Duration = Duration::from_secs(30);
/// Failures are remembered briefly, so a burst to a dead name costs one lookup.
const FRESH_FAILURE: Duration = Duration::from_secs(5);
/// A lookup that takes longer fails (RFC 3263 leaves it to the resolver; 32 s is Timer B).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CACHED: usize = 4096;
/// Work parked on lookups, in all: past this, new work needing a lookup fails at once.
const MAX_PARKED: usize = 10_000;

/// Work waiting for a name.
pub(super) enum Parked {
    /// An app's request outside any dialog (client.rs `new_request`).
    NewRequest { app: AppId, cmd: CmdId, route_uri: Option<String>, draft: Draft },
    /// A proxy branch to start (proxy.rs `start_branch`).
    Branch { proxy: String, target: String },
    /// An ACK for a 2xx, forwarded statelessly along a dialog we record-routed.
    Ack { draft: Draft, target: String },
}

/// A URI's targets now, or the query to park on.
pub(super) enum Resolution {
    Now(Targets),
    Later(Query),
}

type Done = (Query, Result<Targets, String>);

pub(super) struct Resolver {
    dns: Arc<dyn Dns>,
    cache: HashMap<Query, (Result<Targets, String>, Instant)>,
    parked: HashMap<Query, Vec<Parked>>,
    parked_count: usize,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: Option<mpsc::UnboundedReceiver<Done>>,
}

impl Resolver {
    pub fn new(dns: Arc<dyn Dns>) -> Resolver {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Resolver { dns, cache: HashMap::new(), parked: HashMap::new(), parked_count: 0, done_tx, done_rx: Some(done_rx) }
    }

    /// Where finished lookups arrive; the core's loop takes it once.
    pub fn take_done(&mut self) -> Option<mpsc::UnboundedReceiver<Done>> {
        self.done_rx.take()
    }

    fn cached(&self, q: &Query) -> Option<Result<Targets, String>> {
        self.cache.get(q).filter(|(_, until)| *until > Instant::now()).map(|(r, _)| r.clone())
    }

    fn remember(&mut self, q: Query, r: Result<Targets, String>) {
        if self.cache.len() >= MAX_CACHED {
            let now = Instant::now();
            self.cache.retain(|_, (_, until)| *until > now);
            if self.cache.len() >= MAX_CACHED {
                self.cache.clear();
            }
        }
        let fresh = if r.is_ok() { FRESH } else { FRESH_FAILURE };
        self.cache.insert(q, (r, Instant::now() + fresh));
    }
}

impl Core {
    /// The targets of `uri` we can send to: at once for IP literals and cached names, else the
    /// query to park work on (`park`).
    pub(super) fn resolution(&self, uri: &str) -> Result<Resolution, String> {
        let found = match next_for(uri)? {
            Next::Ready(t) => t,
            Next::Lookup(q) => match self.resolver.cached(&q) {
                Some(r) => r?,
                None => return Ok(Resolution::Later(q)),
            },
        };
        Ok(Resolution::Now(self.reachable(found)))
    }

    /// The first target of `uri` we can send to, if it is known without a lookup (IP literal
    /// or cached name).
    pub(super) fn resolved_now(&self, uri: &str) -> Option<(Protocol, SocketAddr)> {
        match self.resolution(uri) {
            Ok(Resolution::Now(t)) => t.first().copied(),
            _ => None,
        }
    }

    /// Where a dialog's requests go: its first Route (loose routing), else `target` when one
    /// is given, if either is known without a lookup; else `flow`, where the dialog's far end
    /// was last heard from (a name not looked up yet, a WebSocket peer's `.invalid` host).
    pub(super) fn dialog_first_hop(&self, route_set: &[String], target: Option<&str>, flow: Option<(Protocol, SocketAddr)>) -> Option<(Protocol, SocketAddr)> {
        route_set.first().map(String::as_str).or(target).and_then(|hop| self.resolved_now(hop)).or(flow)
    }

    /// The targets we have a listening point for (transport and address family): a name may
    /// resolve to IPv6 and IPv4 addresses, and we may listen on one family only.
    fn reachable(&self, mut targets: Targets) -> Targets {
        targets.retain(|(p, a)| self.transports.local_for(*p, *a).is_some());
        targets
    }

    /// Holds `work` until `q` is looked up (one lookup however many wait on it); false when too
    /// much is waiting already, and the work must fail now.
    pub(super) fn park(&mut self, q: Query, work: Parked) -> bool {
        if self.resolver.parked_count >= MAX_PARKED {
            tracing::warn!(host = %q.host, "too many requests waiting on DNS; failing this one");
            return false;
        }
        self.resolver.parked_count += 1;
        let waiting = self.resolver.parked.entry(q.clone()).or_default();
        waiting.push(work);
        if waiting.len() == 1 {
            let (dns, done) = (self.resolver.dns.clone(), self.resolver.done_tx.clone());
            tokio::spawn(async move {
                let r = match tokio::time::timeout(LOOKUP_TIMEOUT, resolve(dns.as_ref(), &q)).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("DNS lookup of {} timed out", q.host)),
                };
                let _ = done.send((q, r));
            });
        }
        true
    }

    /// A lookup finished: its answer is cached and the work parked on it runs again.
    pub(super) fn on_resolved(&mut self, q: Query, r: Result<Targets, String>) {
        if let Err(e) = &r {
            tracing::debug!(host = %q.host, error = %e, "DNS lookup failed");
        }
        if let Ok(targets) = &r {
            for (_, addr) in targets.iter().filter(|(p, _)| matches!(p, Protocol::Tls | Protocol::Wss)) {
                self.transports.name_tls_peer(*addr, &q.host);
            }
        }
        self.resolver.remember(q.clone(), r);
        let waiting = self.resolver.parked.remove(&q).unwrap_or_default();
        self.resolver.parked_count -= waiting.len();
        for work in waiting {
            match work {
                Parked::NewRequest { app, cmd, route_uri, draft } => self.new_request(app, cmd, route_uri.as_deref(), draft),
                Parked::Branch { proxy, target } => self.branch_resolved(&proxy, &target),
                Parked::Ack { draft, target } => self.forward_ack(draft, &target),
            }
        }
    }
}
