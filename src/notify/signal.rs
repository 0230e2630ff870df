//! Telling the outbox relay that rows were committed, so events leave at once instead of at
//! the relay's next poll.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use super::bus::Bus;

/// The relay's doorbell, borrowed from the application for one call.
#[derive(Clone, Copy)]
pub struct OutboxSignal<'a> {
    pub nudge: &'a Notify,
    /// Whether this instance's relay holds the relay lease (then no one else needs telling).
    pub lease_held: &'a AtomicBool,
    pub bus: &'a dyn Bus,
}

impl OutboxSignal<'_> {
    /// Call after committing outbox rows: wakes the relay here, and tells the instance that
    /// holds the relay lease when that is not this one (otherwise it would only find the rows
    /// at its next poll, up to 50 ms later).
    pub fn written(&self) {
        self.nudge.notify_one();
        if !self.lease_held.load(Ordering::Relaxed) {
            self.bus.announce_outbox();
        }
    }
}
