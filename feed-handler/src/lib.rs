//! hotpath-feed: the front of the hot path.
//!
//! - [`itch`]: Nasdaq TotalView-ITCH 5.0 codec: zero-copy views of all 23 message
//!   types, each validated for its exact length once, and builders for writing them.
//! - [`moldudp64`]: MoldUDP64 framing, session tracking (gaps, duplicates, A/B line
//!   arbitration, heartbeats, end of session), re-request policy, and a request server.
//! - [`net`]: Ethernet/VLAN/IPv4/UDP views for captured frames, and frame writing;
//!   [`igmp`]: multicast group membership for a kernel-bypass port.
//! - [`source`]: packet sources (pcap replay, UDP multicast with recvmmsg) behind one
//!   trait; [`replay`]: pcap to multicast with injected faults.
//! - [`handler`]: the feed handler (session -> decode -> books -> publisher) and
//!   [`metrics`]: its counters in shared memory.
//! - [`gen`]: the deterministic synthetic ITCH day (`hotpath gen`); [`rng`]: its PRNG.
#![forbid(unsafe_code)]

pub mod gen;
pub mod handler;
pub mod igmp;
pub mod itch;
pub mod metrics;
pub mod moldudp64;
pub mod net;
pub mod replay;
pub mod rng;
pub mod source;
