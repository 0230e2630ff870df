//! Compliance (DOMAIN.md §10): residents' rights under the PIPL — export of all their data,
//! correction, deletion of the account, withdrawal of consent (`rights`); and the MLPS
//! level-3 audit trail, hash-chained and read only by the audit admin (`audit`); phone numbers
//! encrypted at rest and their keys rotated (`keys`); closed cases reduced to their grid after
//! the retention period (`retention`).

pub mod audit;
mod handlers;
pub mod keys;
pub mod retention;
pub mod rights;

pub use handlers::routes;
