//! Compliance (DOMAIN.md §10): residents' rights under the PIPL — export of all their data,
//! correction, deletion of the account, withdrawal of consent (`rights`).

mod handlers;
pub mod rights;

pub use handlers::routes;
