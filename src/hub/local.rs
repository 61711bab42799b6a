//! [`LocalHub`]: a hub of its own, without a server: publish, retain for replay, and serve
//! [`Subscription`]s, all in process.
//!
//! ```text
//! LocalHub::publish_to ─► Hub::publish (numbered, encoded once, retained) ─► every Subscription
//! LocalHub::subscribe  ─► Hub::resume (replay, gap, seam) ─► a Subscription
//! ```
//!
//! This is what an application that serves its streams itself (in an async runtime, say) and
//! needs no backplane uses. To share channels with other nodes through Redis, or to serve the
//! same channels to a [`Server`](crate::Server)'s own clients, subscribe through that server's
//! [`Broadcaster::subscribe`](crate::Broadcaster::subscribe) instead: its hub is the same kind
//! of hub, fed by the backplane.
//!
//! ```
//! use ssehub::hub::local::LocalHub;
//!
//! let hub = LocalHub::new(ssehub::Retention::default());
//! let sub = hub.subscribe(&["news".into()], None, 1 << 20);
//! let published = hub.publish("news", ssehub::Event::new("hello"))?;
//! assert_eq!(sub.queued_bytes(), published.frame.block().len());
//! # Ok::<(), ssehub::EncodeError>(())
//! ```

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::ids::IdScheme;
use super::subscription::{Start, Subscription};
use super::{Hub, Published, Retention, Target};
use crate::error::EncodeError;
use crate::event::Event;

/// A hub with its lock, cheap to clone and usable from any thread. See the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct LocalHub {
    hub: Arc<Mutex<Hub>>,
}

impl LocalHub {
    /// A hub keeping `retention`, giving id-less events ids unique across restarts (as a
    /// server does by default: see [`IdScheme::from_clock`]).
    pub fn new(retention: Retention) -> LocalHub {
        LocalHub::with_ids(retention, Some(IdScheme::from_clock()))
    }

    /// A hub keeping `retention`, giving id-less events ids by `ids` (`None`: none).
    pub fn with_ids(retention: Retention, ids: Option<IdScheme>) -> LocalHub {
        LocalHub { hub: Arc::new(Mutex::new(Hub::new(retention, ids))) }
    }

    /// Sends `event` to every subscription, whatever its channels.
    pub fn send(&self, event: impl Into<Event>) -> Result<Published, EncodeError> {
        self.publish_to(&Target::All, event)
    }

    /// Sends `event` to the subscriptions of `channel`.
    pub fn publish(&self, channel: &str, event: impl Into<Event>) -> Result<Published, EncodeError> {
        self.publish_to(&Target::channels([channel]), event)
    }

    /// Numbers, encodes (once), retains and delivers `event` to `target`.
    pub fn publish_to(&self, target: &Target, event: impl Into<Event>) -> Result<Published, EncodeError> {
        self.lock().publish(target, event.into(), Instant::now())
    }

    /// A subscription to `channels` (checked ones: see [`super::validate_channels`]) resuming
    /// after `last_event_id`, its queue bounded to `limit` bytes: the replay is queued at once.
    pub fn subscribe(
        &self,
        channels: &[Arc<str>],
        last_event_id: Option<&str>,
        limit: usize,
    ) -> Subscription {
        let mut hub = self.lock();
        let resume = hub.resume(channels, last_event_id, limit.max(1), Instant::now());
        Subscription::register(&self.hub, &mut hub, channels, last_event_id, limit, Start::Now(resume), false)
    }

    /// Open subscriptions (not counting those cut off).
    pub fn subscribers(&self) -> usize {
        self.lock().subscriptions()
    }

    /// Runs `f` on the hub (its logs, sequence number...), under its lock.
    pub fn with_hub<T>(&self, f: impl FnOnce(&Hub) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }
}
