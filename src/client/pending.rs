//! Commands sent to the server and not yet answered, keyed by our wire message id. Each has a
//! deadline, so a server that never answers cannot leave a caller waiting forever.

use crate::app::CmdId;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// drachtio-server answers sip frames as soon as the message is sent; 32 s (64×T1) is far
/// beyond that. Proxy operations last as long as the call setup and have no deadline.
pub const REPLY_DEADLINE: Duration = Duration::from_secs(32);

#[derive(Debug, Default)]
pub struct Pending {
    entries: HashMap<String, (CmdId, Option<Instant>)>,
}

impl Pending {
    pub fn insert(&mut self, msg_id: String, cmd: CmdId, deadline: Option<Instant>) {
        self.entries.insert(msg_id, (cmd, deadline));
    }

    /// The command a reply belongs to; kept when more replies follow.
    pub fn resolve(&mut self, msg_id: &str, more: bool) -> Option<CmdId> {
        if more {
            self.entries.get(msg_id).map(|(cmd, _)| *cmd)
        } else {
            self.entries.remove(msg_id).map(|(cmd, _)| cmd)
        }
    }

    /// Removes and returns the commands whose deadline has passed.
    pub fn expired(&mut self, now: Instant) -> Vec<CmdId> {
        let mut out = Vec::new();
        self.entries.retain(|_, (cmd, deadline)| {
            let keep = deadline.is_none_or(|d| d > now);
            if !keep {
                out.push(*cmd);
            }
            keep
        });
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn drain(&mut self) -> impl Iterator<Item = CmdId> + '_ {
        self.entries.drain().map(|(_, (cmd, _))| cmd)
    }
}
