//! Compliance (DOMAIN.md §10): residents' rights under the PIPL — export of all their data,
//! correction, deletion of the account, withdrawal of consent (`rights`); and the MLPS
//! level-3 audit trail, hash-chained and read only by the audit admin (`audit`).

pub mod audit;
mod handlers;
pub mod rights;

pub use handlers::routes;
