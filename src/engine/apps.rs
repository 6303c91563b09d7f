//! The applications attached to an engine: their routes (which methods each wants), the
//! round-robin choice among them for a new request, and event delivery that never blocks the
//! core: a full event queue parks events in a bounded overflow, and new requests for an app
//! that cannot keep up are refused (503) instead of queued.

use crate::app::Event;
use std::collections::{HashMap, VecDeque};
use tokio::sync::mpsc;

pub type AppId = u64;

/// Events beyond the channel's capacity kept per app; past this an app is hopelessly behind.
const MAX_OVERFLOW: usize = 16_384;

struct App {
    events: mpsc::Sender<Event>,
    overflow: VecDeque<Event>,
    routes: Vec<String>,
    /// The tags the app authenticated with (a request handler may route by tag).
    tags: Vec<String>,
    /// New requests handed to the app and not yet answered with a final response.
    pending: usize,
}

#[derive(Default)]
pub struct Apps {
    apps: HashMap<AppId, App>,
    /// Per-method rotating offset, as drachtio-server spreads new requests (§3.3).
    rotation: HashMap<String, usize>,
}

impl Apps {
    pub fn attach(&mut self, id: AppId, events: mpsc::Sender<Event>) {
        self.apps.insert(id, App { events, overflow: VecDeque::new(), routes: Vec::new(), tags: Vec::new(), pending: 0 });
    }

    pub fn contains(&self, id: AppId) -> bool {
        self.apps.contains_key(&id)
    }

    pub fn detach(&mut self, id: AppId) {
        self.apps.remove(&id);
    }

    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    pub fn len(&self) -> usize {
        self.apps.len()
    }

    pub fn route(&mut self, id: AppId, verb: String) {
        if let Some(app) = self.apps.get_mut(&id) {
            if !app.routes.contains(&verb) {
                app.routes.push(verb);
            }
        }
    }

    pub fn set_tags(&mut self, id: AppId, tags: Vec<String>) {
        if let Some(app) = self.apps.get_mut(&id) {
            app.tags = tags;
        }
    }

    /// Round robin among the apps that routed `method` and have `tag` (a handler's route by
    /// tag, as drachtio-server's selectClientForTag).
    pub fn choose_tagged(&mut self, method: &str, tag: &str) -> Option<AppId> {
        self.rotate(&format!("{method}#{tag}"), |a| a.routes.iter().any(|r| r == method) && a.tags.iter().any(|t| t == tag))
    }

    /// As drachtio-server does for `remove_route`: clears every route of the app.
    pub fn unroute_all(&mut self, id: AppId) {
        if let Some(app) = self.apps.get_mut(&id) {
            app.routes.clear();
        }
    }

    /// The app that gets a new request of `method` (lower-case), round robin.
    pub fn choose(&mut self, method: &str) -> Option<AppId> {
        self.rotate(method, |a| a.routes.iter().any(|r| r == method))
    }

    /// The next of the apps `eligible` takes, in id order, round robin per `key`. Called for
    /// every new request, so the common case (one app, a key seen before) allocates nothing.
    fn rotate(&mut self, key: &str, eligible: impl Fn(&App) -> bool) -> Option<AppId> {
        let mut eligible = self.apps.iter().filter(|(_, a)| eligible(a)).map(|(id, _)| *id);
        let first = eligible.next()?;
        // Collecting an empty iterator allocates nothing: one app costs no Vec.
        let mut others: Vec<AppId> = eligible.collect();
        let turn = match self.rotation.get_mut(key) {
            Some(next) => std::mem::replace(next, next.wrapping_add(1)),
            None => {
                self.rotation.insert(key.to_owned(), 1);
                0
            }
        };
        if others.is_empty() {
            return Some(first);
        }
        others.push(first);
        others.sort_unstable();
        Some(others[turn % others.len()])
    }

    /// True when the app can take a new request now: nothing parked, room in its queue, and
    /// fewer than `max_pending` requests it has not answered.
    /// New requests `id` holds unanswered.
    pub fn pending(&self, id: AppId) -> usize {
        self.apps.get(&id).map_or(0, |a| a.pending)
    }

    pub fn has_room(&self, id: AppId, max_pending: usize) -> bool {
        self.apps.get(&id).is_some_and(|a| a.overflow.is_empty() && a.events.capacity() > 0 && a.pending < max_pending)
    }

    /// Counts a new request handed to the app (+1) or answered (-1).
    pub fn count_pending(&mut self, id: AppId, up: bool) {
        if let Some(a) = self.apps.get_mut(&id) {
            a.pending = if up { a.pending + 1 } else { a.pending.saturating_sub(1) };
        }
    }

    /// Delivers an event in order; false when the app is gone or hopelessly behind.
    pub fn deliver(&mut self, id: AppId, event: Event) -> bool {
        let Some(app) = self.apps.get_mut(&id) else { return false };
        if app.overflow.is_empty() {
            match app.events.try_send(event) {
                Ok(()) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
                Err(mpsc::error::TrySendError::Full(e)) => {
                    app.overflow.push_back(e);
                    return true;
                }
            }
        }
        if app.overflow.len() >= MAX_OVERFLOW {
            tracing::error!(app = id, "application event overflow: dropping an event");
            return false;
        }
        app.overflow.push_back(event);
        true
    }

    /// Moves parked events into the queues as room appears (called on every core turn).
    pub fn flush(&mut self) {
        for app in self.apps.values_mut() {
            while let Some(e) = app.overflow.pop_front() {
                match app.events.try_send(e) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(e)) => {
                        app.overflow.push_front(e);
                        break;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        app.overflow.clear();
                        break;
                    }
                }
            }
        }
    }

    pub fn has_overflow(&self) -> bool {
        self.apps.values().any(|a| !a.overflow.is_empty())
    }
}
