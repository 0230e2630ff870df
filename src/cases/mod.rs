//! What reports and wishes truly share: the bodies that locate a case and show its photos,
//! case numbers, and the one writer that applies a decided change.

pub mod dto;
pub mod env;
pub mod labels;
pub mod number;
pub mod write;
