//! Notifications: the transactional outbox, the relay that publishes it, the bus that
//! carries events between instances (Redis, or in-process), and the live SSE feed.

pub mod bus;
pub mod event;
mod handlers;
pub mod outbox;
pub mod relay;
pub mod signal;
pub mod subscribe;

pub use event::EventKind;
pub use handlers::routes;
