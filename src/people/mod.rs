//! People as a community office manages them: each grid's team (workers, backups,
//! volunteers), the invites that bring people in (listed, revoked), and the volunteer
//! applications it decides. Joining by invite itself lives in `auth` (it makes a role).

mod handlers;
pub mod service;

pub use handlers::routes;
