//! MoldUDP64 (Nasdaq's framing for multicast market data, protocol specification
//! v1.00): wire views and builders, the receiving session, and a request server.
//!
//! - [`wire`]: [`Packet`] (a zero-copy view of a downstream packet, validated once by
//!   [`Packet::new_checked`]), [`Request`] (a request packet), [`PacketBuilder`] and the
//!   heartbeat / end-of-session / request writers, [`MoldError`].
//! - [`session`]: [`Session`], the receiver state machine (time injected): A/B line
//!   arbitration, duplicates, gaps, a pre-allocated out-of-order buffer, the re-request
//!   policy ([`Action::Request`]), give-up, heartbeats and end of session, with
//!   [`SessionStats`].
//! - [`server`]: [`Responder`] (history + rate limiter + answers, time injected) and
//!   [`RequestServer`] (the same on a `std::net::UdpSocket`, for a thread of its own).
//!
//! Hot path (packet parsing, [`Session::on_packet`], [`Session::poll`]): no allocation
//! after construction, no locks, no syscalls, no logging, no clock reads; bad input is a
//! typed error and a counter, never a panic.
//!
//! ```
//! use hotpath_feed::moldudp64::{Line, PacketBuilder, Session, SessionConfig};
//!
//! let mut buf = [0u8; 1472];
//! let mut b = PacketBuilder::new(&mut buf, b"000010059B", 1).unwrap();
//! b.push(b"first").unwrap();
//! b.push(b"second").unwrap();
//! let packet = b.finish();
//!
//! let mut session = Session::new(SessionConfig::default()).unwrap();
//! let mut seen = Vec::new();
//! let out = session.on_packet(Line::A, packet, 0, &mut |seq: u64, msg: &[u8]| {
//!     seen.push((seq, msg.to_vec()))
//! });
//! assert!(out.rejected.is_none() && out.action.is_none());
//! assert_eq!(seen, vec![(1, b"first".to_vec()), (2, b"second".to_vec())]);
//! // Line B's copy is a duplicate.
//! let _ = session.on_packet(Line::B, packet, 10, &mut |_: u64, _: &[u8]| unreachable!());
//! assert_eq!(session.stats().duplicates, [0, 2, 0]);
//! ```

pub mod server;
pub mod session;
mod store;
pub mod wire;

pub use server::{
    HistoryError, RateLimit, RequestOutcome, RequestServer, Responder, ServerConfig, ServerError,
    ServerStats,
};
pub use session::{
    Action, Line, Outcome, Rejected, Session, SessionConfig, SessionStats, Sink, StartAt,
};
pub use wire::{
    write_end_of_session, write_heartbeat, write_request, BuildError, Messages, MoldError,
    MoldErrorKind, Packet, PacketBuilder, PacketKind, Request, Sequenced, SessionId,
    END_OF_SESSION_COUNT, HEADER_LEN, HEARTBEAT_COUNT, MAX_MESSAGES_PER_PACKET, REQUEST_LEN,
    SESSION_LEN,
};

/// A configuration field out of its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid MoldUDP64 config: {field} = {value}, must be in {min}..={max}")]
pub struct ConfigError {
    pub field: &'static str,
    pub value: u64,
    pub min: u64,
    pub max: u64,
}

impl ConfigError {
    pub(crate) fn check_range(
        field: &'static str,
        value: usize,
        min: usize,
        max: usize,
    ) -> Result<(), ConfigError> {
        if value < min || value > max {
            return Err(ConfigError {
                field,
                value: value as u64,
                min: min as u64,
                max: max as u64,
            });
        }
        Ok(())
    }
}
