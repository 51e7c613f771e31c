//! hotpath-shm: the shared-memory layer every hotpath component talks through.
//!
//! - [`header`]: the file format (magic, layout version, type hash, capacity, slot
//!   size, creator pid, creation time), validated field by field on attach.
//! - [`spsc`]: wait-free single-producer single-consumer rings (orders, executions,
//!   events).
//! - [`broadcast`]: one producer, many late-joining consumers that detect and count
//!   laps (market data).
//! - [`counters`]: named counters, gauges and heartbeats for `hotpath stat`.
//! - [`md`]: the market-data event published on the feed's broadcast ring.
//! - [`dir`]: instance directories, listing, and cleaning up after dead processes.
//!
//! Everything read from a shm file is untrusted: a corrupt or hostile file makes attach
//! (or a later read) fail with a typed error naming the file and field, never undefined
//! behaviour. One hazard no check can remove: a process that truncates a file others
//! have mapped makes their next access to the lost pages fault (SIGBUS). Files are
//! created mode 0600 in 0700 directories so only the owning user can do that.
//!
//! All `unsafe` code of hotpath's process-boundary layer lives in this crate; each block
//! says why it is sound in a `// SAFETY:` comment.

// Lets `shm_message!` name this crate as `hotpath_shm` everywhere, itself included.
extern crate self as hotpath_shm;

#[doc(hidden)]
pub use zerocopy as __zerocopy;

pub mod broadcast;
pub mod clock;
pub mod counters;
pub mod dir;
pub mod error;
pub mod header;
pub mod md;
pub mod message;
pub mod object;
pub mod spsc;

pub use error::{PushError, RingError, ShmError};
pub use message::ShmMessage;
pub use object::Liveness;
