//! Connections to the outside: the database, Redis and WeChat, and the shared caches and
//! counters built on them.

pub mod crypto;
pub mod db;
pub mod lease;
pub mod ratelimit;
pub mod redis;
pub mod shaped;
pub mod wechat;
pub mod wechat_token;
