//! The MoldUDP64 receiver: a pure state machine with injected time.
//!
//! [`Session::on_packet`] takes a raw packet from line A, line B or the request server
//! ([`Line::Retransmission`]) and delivers every message to a [`Sink`] exactly once and
//! in sequence order. [`Session::poll`] drives the timers when no packets arrive. Both
//! return what the caller must do next ([`Action::Request`]: send a request packet,
//! written by [`Session::write_request`], to the request server).
//!
//! # Sequence bookkeeping
//!
//! - `next`: the next sequence to deliver; everything below it was delivered or given up.
//! - `high`: one past the highest sequence known to exist (from data packets, heartbeats
//!   and end of session). `next < high` means a gap: the message at `next` is missing.
//! - Messages in `(next, next + buffer capacity)` that arrive ahead of a gap are copied
//!   into a pre-allocated ring of fixed-size slots and delivered when the gap closes.
//!   Messages further ahead, or longer than a slot, are dropped and counted
//!   (`buffer_overflows`, `buffer_oversize`); they stay missing and are asked for again
//!   (requests always start at `next` and reach up to `high`).
//!
//! In-order messages (the normal case) are delivered straight from the packet buffer,
//! never copied.
//!
//! # Policies
//!
//! - Start: at the first sequence seen ([`StartAt::FirstSeen`], heartbeats included) or
//!   at a configured one ([`StartAt::Sequence`]); messages below the start count as
//!   duplicates.
//! - Session id: the configured one, or the first one seen; packets of any other session
//!   are counted (`other_session_packets`), reported as [`Rejected::OtherSession`] and
//!   ignored.
//! - A/B arbitration: the first copy of a sequence (from any line) wins; later copies
//!   are duplicates, counted per line.
//! - Malformed packets are counted by reason and reported as [`Rejected::Malformed`];
//!   none of their messages are used.
//! - Re-request: a gap is first asked for `request_delay_ns` after it opened (time for
//!   the other line to fill it); a request covers `[next, min(high, next +
//!   max_request_count))`; at most one request per `request_interval_ns`; a request is
//!   outstanding until `next` passes its end (filled) or `request_timeout_ns` passes
//!   (then it is retried from the current `next`).
//! - Give up: when `max_request_attempts` requests for the same `next` all timed out, or
//!   `next` has not moved for `max_gap_age_ns` (with `max_request_attempts == 0`,
//!   requests are disabled and only the age applies), the range of the last request
//!   (or `[next, min(high, next + max_request_count))` if none was sent) is given up:
//!   its missing sequences are counted as lost and reported to [`Sink::lost`], and the
//!   buffered messages within and after it are delivered. If the request server already
//!   answered part of that range (a response packet for a later sequence arrived), the
//!   range stops at the last sequence it answered, so a response cut short by the
//!   server's packet limit is asked for again rather than given up.
//! - End of session: the sequence in the end-of-session packet is the end; the session
//!   is finished once everything before it (and before `high`) is delivered or given
//!   up. After that, new messages are counted as `after_end_messages` and dropped.
//!
//! # Counting invariant
//!
//! `messages_missing == messages_recovered_total() + messages_lost + missing()`:
//! every sequence found missing is later either received (from any line, counted as
//! recovered on that line), given up, or still missing.
//!
//! Nothing here allocates after [`Session::new`], takes a lock, makes a syscall, logs or
//! reads a clock.

use super::store::SlotStore;
use super::wire::{
    write_request, BuildError, MoldError, MoldErrorKind, Packet, SessionId, END_OF_SESSION_COUNT,
    HEARTBEAT_COUNT,
};
use super::ConfigError;

/// Where a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Line {
    /// Multicast line A.
    A = 0,
    /// Multicast line B (the redundant copy of A).
    B = 1,
    /// A unicast response from the request server.
    Retransmission = 2,
}

impl Line {
    /// Number of lines (length of per-line counter arrays).
    pub const COUNT: usize = 3;
    /// Every line, in index order.
    pub const ALL: [Line; Self::COUNT] = [Line::A, Line::B, Line::Retransmission];

    /// Index into a per-line counter array.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A stable lowercase name (for counters and logs).
    pub const fn name(self) -> &'static str {
        match self {
            Line::A => "a",
            Line::B => "b",
            Line::Retransmission => "retransmission",
        }
    }
}

/// Receives the session's output. Any `FnMut(u64, &[u8])` closure is a sink (annotate
/// the parameter types: `|seq: u64, msg: &[u8]| ...`).
pub trait Sink {
    /// The message with sequence number `sequence`; called exactly once per sequence, in
    /// increasing order. The slice is only valid during the call.
    fn message(&mut self, sequence: u64, message: &[u8]);

    /// `count` sequences from `first` were given up (never delivered). Called in order
    /// with the messages. The default does nothing (losses are always counted in
    /// [`SessionStats::messages_lost`]).
    fn lost(&mut self, first: u64, count: u64) {
        let _ = (first, count);
    }
}

impl<F: FnMut(u64, &[u8])> Sink for F {
    #[inline]
    fn message(&mut self, sequence: u64, message: &[u8]) {
        self(sequence, message)
    }
}

/// Where a session starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At the sequence of the first packet seen (data, heartbeat or end of session).
    FirstSeen,
    /// At this sequence: anything from it on that is missing is asked for.
    Sequence(u64),
}

/// Session configuration. `Default` gives the values documented on each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Session to follow; `None` (default) locks onto the first session seen.
    pub session: Option<SessionId>,
    /// Where to start. Default [`StartAt::FirstSeen`].
    pub start: StartAt,
    /// Messages that can be held ahead of a gap; rounded up to a power of two.
    /// Default 16384. Range 1..=2^24.
    pub buffer_capacity: usize,
    /// Largest message that can be held ahead of a gap (the slot size), in bytes.
    /// Default 64 (every ITCH 5.0 message fits). Range 1..=65535. In-order messages of
    /// any size are delivered regardless.
    pub max_message_len: usize,
    /// Wait this long after a gap opens before the first request (lets line B fill a
    /// gap of line A). Default 100 µs.
    pub request_delay_ns: u64,
    /// At most one request per this interval. Default 1 ms.
    pub request_interval_ns: u64,
    /// A request not filled within this time is retried. Default 10 ms.
    pub request_timeout_ns: u64,
    /// Most messages asked for in one request; keep it small enough for the request
    /// server to answer a request in full (see the give-up policy). Default 64.
    /// Minimum 1.
    pub max_request_count: u16,
    /// Requests for the same first missing sequence before giving up; 0 disables
    /// requests (gaps are then given up after `max_gap_age_ns`). Default 5.
    pub max_request_attempts: u32,
    /// Give up a gap whose first missing sequence has not been filled for this long.
    /// Default 1 s.
    pub max_gap_age_ns: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            session: None,
            start: StartAt::FirstSeen,
            buffer_capacity: 16_384,
            max_message_len: 64,
            request_delay_ns: 100_000,
            request_interval_ns: 1_000_000,
            request_timeout_ns: 10_000_000,
            max_request_count: 64,
            max_request_attempts: 5,
            max_gap_age_ns: 1_000_000_000,
        }
    }
}

/// Largest `buffer_capacity` (before rounding).
pub const MAX_BUFFER_CAPACITY: usize = 1 << 24;
/// Largest buffer (`capacity * max_message_len`, after rounding), in bytes.
pub const MAX_BUFFER_BYTES: usize = 1 << 30;

impl SessionConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::check_range(
            "buffer_capacity",
            self.buffer_capacity,
            1,
            MAX_BUFFER_CAPACITY,
        )?;
        ConfigError::check_range("max_message_len", self.max_message_len, 1, 65_535)?;
        let bytes = self
            .buffer_capacity
            .next_power_of_two()
            .saturating_mul(self.max_message_len);
        ConfigError::check_range("buffer bytes", bytes, 1, MAX_BUFFER_BYTES)?;
        ConfigError::check_range(
            "max_request_count",
            usize::from(self.max_request_count),
            1,
            65_535,
        )?;
        Ok(())
    }
}

/// What the caller must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send a request for `count` messages from `sequence` to the request server (write
    /// it with [`Session::write_request`]).
    Request { sequence: u64, count: u16 },
}

/// Why a packet was not used (already counted in the stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Bad framing; none of its messages were used.
    Malformed(MoldError),
    /// A packet of another session.
    OtherSession { session: SessionId },
}

/// Result of [`Session::on_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Outcome {
    /// A request to send now, if the re-request policy wants one.
    pub action: Option<Action>,
    /// Set if the packet was not used, and why.
    pub rejected: Option<Rejected>,
}

/// Counters; every update is a plain integer add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Well-formed packets of our session, per line (heartbeats and end of session
    /// included).
    pub packets: [u64; Line::COUNT],
    /// Messages handed to the sink.
    pub messages_delivered: u64,
    /// Messages already delivered (or buffered, or before the start), per line.
    pub duplicates: [u64; Line::COUNT],
    /// Data packets that brought a message not seen before, per line: on lines A and
    /// B, which line's copy came first (a line that loses packets, or lags, wins fewer).
    pub packets_first: [u64; Line::COUNT],
    /// Times a packet, heartbeat or end of session revealed sequences beyond the highest
    /// known one.
    pub gaps_detected: u64,
    /// Sequences found missing (each counted once).
    pub messages_missing: u64,
    /// Requests emitted.
    pub requests_sent: u64,
    /// Requests that timed out unfilled and were retried.
    pub request_timeouts: u64,
    /// First copies of missing sequences, per line they came from (A/B: the other line
    /// filled the gap; Retransmission: the request server did).
    pub messages_recovered: [u64; Line::COUNT],
    /// Sequences given up.
    pub messages_lost: u64,
    /// Times a range was given up.
    pub gaps_given_up: u64,
    /// Heartbeat packets.
    pub heartbeats: u64,
    /// End-of-session packets.
    pub end_of_session: u64,
    /// Messages copied into the buffer because they arrived ahead of a gap.
    pub out_of_order_buffered: u64,
    /// Messages too far ahead of the gap to buffer (dropped, still missing).
    pub buffer_overflows: u64,
    /// Out-of-order messages longer than `max_message_len` (dropped, still missing).
    pub buffer_oversize: u64,
    /// Malformed packets, by [`MoldErrorKind`] index.
    pub malformed: [u64; MoldErrorKind::COUNT],
    /// Packets of another session.
    pub other_session_packets: u64,
    /// New messages after the session finished (dropped).
    pub after_end_messages: u64,
}

impl SessionStats {
    /// Packets over all lines.
    pub fn packets_total(&self) -> u64 {
        self.packets.iter().sum()
    }
    /// Duplicates over all lines.
    pub fn duplicates_total(&self) -> u64 {
        self.duplicates.iter().sum()
    }
    /// Recovered messages over all lines.
    pub fn messages_recovered_total(&self) -> u64 {
        self.messages_recovered.iter().sum()
    }
    /// Malformed packets of one kind.
    pub fn malformed(&self, kind: MoldErrorKind) -> u64 {
        self.malformed[kind.index()]
    }
    /// Malformed packets of every kind.
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    sequence: u64,
    count: u16,
    sent_ns: u64,
}

impl Outstanding {
    fn end(&self) -> u64 {
        self.sequence + u64::from(self.count)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Gap {
    open: bool,
    /// When the gap opened (the first request waits `request_delay_ns` from here).
    detected_ns: u64,
    /// `next` when it last moved; attempts and age are per front.
    front: u64,
    front_since_ns: u64,
    attempts: u32,
    request: Option<Outstanding>,
}

/// A MoldUDP64 receiver session. See the [module documentation](self).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    store: SlotStore,
    session_id: Option<SessionId>,
    started: bool,
    /// The sequence of the first packet of the session received.
    first_seen: Option<u64>,
    next: u64,
    high: u64,
    buffered: usize,
    end: Option<u64>,
    finished: bool,
    gap: Gap,
    last_request_ns: Option<u64>,
    /// One past the highest sequence received from the request server.
    response_high: u64,
    stats: SessionStats,
}

impl Session {
    /// Allocates everything the session will ever use.
    pub fn new(config: SessionConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let store = SlotStore::new(
            config.buffer_capacity.next_power_of_two(),
            config.max_message_len,
        );
        let (started, next) = match config.start {
            StartAt::FirstSeen => (false, 0),
            StartAt::Sequence(s) => (true, s),
        };
        Ok(Session {
            session_id: config.session,
            config,
            store,
            started,
            first_seen: None,
            next,
            high: next,
            buffered: 0,
            end: None,
            finished: false,
            gap: Gap::default(),
            last_request_ns: None,
            response_high: 0,
            stats: SessionStats::default(),
        })
    }

    /// Handles one packet (the UDP payload) from `line` at time `now_ns`, delivering
    /// whatever became deliverable, then runs the timers (as [`Session::poll`]).
    pub fn on_packet<S: Sink + ?Sized>(
        &mut self,
        line: Line,
        bytes: &[u8],
        now_ns: u64,
        sink: &mut S,
    ) -> Outcome {
        let rejected = self.accept(line, bytes, sink);
        let action = self.drive(now_ns, sink);
        Outcome { action, rejected }
    }

    /// Runs the timers (request delay, rate limit, timeouts, give-up) at `now_ns`; call
    /// it every duty cycle, packets or not.
    pub fn poll<S: Sink + ?Sized>(&mut self, now_ns: u64, sink: &mut S) -> Option<Action> {
        self.drive(now_ns, sink)
    }

    /// Writes the request packet for `action` into `buf`; returns its length (20).
    pub fn write_request(&self, action: &Action, buf: &mut [u8]) -> Result<usize, BuildError> {
        let session = self.session_id.as_ref().ok_or(BuildError::UnknownSession)?;
        match *action {
            Action::Request { sequence, count } => write_request(buf, session, sequence, count),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// The session followed (configured, or the first seen).
    pub fn session_id(&self) -> Option<&SessionId> {
        self.session_id.as_ref()
    }

    /// Next sequence to deliver.
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    /// The sequence of the first packet received (data, heartbeat or end of session),
    /// once one has come. A session that starts at the first packet seen
    /// ([`StartAt::FirstSeen`]) knows nothing of what came before it: this says where
    /// it began.
    pub fn first_sequence(&self) -> Option<u64> {
        self.first_seen
    }

    /// One past the highest sequence known to exist.
    pub fn high_water(&self) -> u64 {
        self.high
    }

    /// Messages held ahead of a gap.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Actual buffer capacity (the configured one rounded up to a power of two).
    pub fn buffer_capacity(&self) -> usize {
        self.store.capacity()
    }

    /// Sequences known to exist that are neither delivered, buffered nor given up.
    pub fn missing(&self) -> u64 {
        self.high - self.next - self.buffered as u64
    }

    /// Whether there is a gap now.
    pub fn has_gap(&self) -> bool {
        self.next < self.high
    }

    /// The end-of-session sequence, once seen.
    pub fn end_of_session(&self) -> Option<u64> {
        self.end
    }

    /// End of session seen and everything before it delivered or given up.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn accept<S: Sink + ?Sized>(
        &mut self,
        line: Line,
        bytes: &[u8],
        sink: &mut S,
    ) -> Option<Rejected> {
        let packet = match Packet::new_checked(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed[e.kind().index()] += 1;
                return Some(Rejected::Malformed(e));
            }
        };
        match &self.session_id {
            Some(id) if id != packet.session() => {
                self.stats.other_session_packets += 1;
                return Some(Rejected::OtherSession {
                    session: *packet.session(),
                });
            }
            Some(_) => {}
            None => self.session_id = Some(*packet.session()),
        }
        self.stats.packets[line.index()] += 1;
        let sequence = packet.sequence();
        self.first_seen.get_or_insert(sequence);
        if !self.started {
            self.started = true;
            self.next = sequence;
            self.high = sequence;
        }
        match packet.count() {
            HEARTBEAT_COUNT => {
                self.stats.heartbeats += 1;
                self.reveal(sequence);
            }
            END_OF_SESSION_COUNT => {
                self.stats.end_of_session += 1;
                if self.end.is_none() {
                    self.end = Some(sequence);
                }
                self.reveal(sequence);
            }
            _ => self.on_data(line, &packet, sink),
        }
        None
    }

    /// A heartbeat or end of session says `sequence` is the next one to exist.
    fn reveal(&mut self, sequence: u64) {
        if !self.finished && sequence > self.high {
            self.stats.gaps_detected += 1;
            self.stats.messages_missing += sequence - self.high;
            self.high = sequence;
        }
    }

    /// A validated data packet. In-order messages go to the sink straight from the
    /// packet buffer.
    #[inline]
    fn on_data<S: Sink + ?Sized>(&mut self, line: Line, packet: &Packet<&[u8]>, sink: &mut S) {
        let li = line.index();
        let first = packet.sequence();
        let count = u64::from(packet.count());
        let end = first + count; // no overflow: checked by the validation
        if line == Line::Retransmission && end > self.response_high {
            self.response_high = end;
        }
        if end <= self.next {
            self.stats.duplicates[li] += count;
            return;
        }
        if self.finished {
            let duplicates = self.next.saturating_sub(first);
            self.stats.duplicates[li] += duplicates;
            self.stats.after_end_messages += count - duplicates;
            return;
        }
        if first > self.high {
            self.stats.gaps_detected += 1;
            self.stats.messages_missing += first - self.high;
            self.high = first;
        }
        // Sequences below this that are not delivered or buffered are missing.
        let high_before = self.high;
        let new_before = self.stats.messages_delivered + self.stats.out_of_order_buffered;
        for (sequence, message) in packet.sequenced() {
            self.one(li, sequence, message, high_before, sink);
        }
        if self.stats.messages_delivered + self.stats.out_of_order_buffered != new_before {
            self.stats.packets_first[li] += 1;
        }
        if end > self.high {
            self.high = end;
        }
    }

    /// One message of a data packet: deliver, count as duplicate, or hold.
    #[inline(always)]
    fn one<S: Sink + ?Sized>(
        &mut self,
        li: usize,
        sequence: u64,
        message: &[u8],
        high_before: u64,
        sink: &mut S,
    ) {
        if sequence == self.next {
            if sequence < high_before {
                self.stats.messages_recovered[li] += 1;
            }
            sink.message(sequence, message);
            self.next = sequence + 1;
            self.stats.messages_delivered += 1;
            if self.buffered != 0 {
                self.drain(sink);
            }
        } else if sequence < self.next {
            self.stats.duplicates[li] += 1;
        } else {
            self.hold(li, sequence, message, high_before);
        }
    }

    /// A message ahead of `next`: buffer it if possible.
    fn hold(&mut self, li: usize, sequence: u64, message: &[u8], high_before: u64) {
        if self.store.contains(sequence) {
            self.stats.duplicates[li] += 1;
            return;
        }
        let was_missing = sequence < high_before;
        if sequence - self.next >= self.store.capacity() as u64 {
            self.stats.buffer_overflows += 1;
            if !was_missing {
                self.stats.messages_missing += 1;
            }
            return;
        }
        match self.store.insert(sequence, message) {
            Ok(previous) => {
                debug_assert!(
                    previous == super::store::EMPTY,
                    "slot of {sequence} still held {previous} (next {})",
                    self.next
                );
                self.buffered += 1;
                self.stats.out_of_order_buffered += 1;
                if was_missing {
                    self.stats.messages_recovered[li] += 1;
                }
            }
            Err(()) => {
                self.stats.buffer_oversize += 1;
                if !was_missing {
                    self.stats.messages_missing += 1;
                }
            }
        }
    }

    /// Delivers buffered messages from `next` on while they are there.
    fn drain<S: Sink + ?Sized>(&mut self, sink: &mut S) {
        while self.buffered != 0 {
            let sequence = self.next;
            match self.store.get(sequence) {
                Some(message) => sink.message(sequence, message),
                None => return,
            }
            self.store.remove(sequence);
            self.buffered -= 1;
            self.next = sequence + 1;
            self.stats.messages_delivered += 1;
        }
    }

    fn drive<S: Sink + ?Sized>(&mut self, now_ns: u64, sink: &mut S) -> Option<Action> {
        let action = self.drive_gap(now_ns, sink);
        if !self.finished {
            if let Some(end) = self.end {
                if self.next >= end && self.next >= self.high {
                    self.finished = true;
                }
            }
        }
        action
    }

    fn drive_gap<S: Sink + ?Sized>(&mut self, now_ns: u64, sink: &mut S) -> Option<Action> {
        if self.next >= self.high {
            self.gap = Gap::default();
            return None;
        }
        if !self.gap.open {
            self.gap = Gap {
                open: true,
                detected_ns: now_ns,
                front: self.next,
                front_since_ns: now_ns,
                attempts: 0,
                request: None,
            };
        } else if self.gap.front != self.next {
            self.gap.front = self.next;
            self.gap.front_since_ns = now_ns;
            self.gap.attempts = 0;
        }
        let timeout_ns = self.config.request_timeout_ns;
        let max_attempts = self.config.max_request_attempts;
        let timed_out = self
            .gap
            .request
            .is_some_and(|r| now_ns.saturating_sub(r.sent_ns) >= timeout_ns);
        let too_old = now_ns.saturating_sub(self.gap.front_since_ns) >= self.config.max_gap_age_ns;
        let exhausted = max_attempts > 0 && self.gap.attempts >= max_attempts && timed_out;
        if too_old || exhausted {
            self.give_up(sink);
            self.stats.gaps_given_up += 1;
            if self.next >= self.high {
                self.gap = Gap::default();
                return None;
            }
            self.gap.front = self.next;
            self.gap.front_since_ns = now_ns;
            self.gap.attempts = 0;
            self.gap.request = None;
        }
        self.maybe_request(now_ns)
    }

    fn give_up<S: Sink + ?Sized>(&mut self, sink: &mut S) {
        let next = self.next;
        let default_end = next + (self.high - next).min(u64::from(self.config.max_request_count));
        let mut end = match self.gap.request {
            Some(r) if r.sequence <= next && next < r.end() => r.end(),
            _ => default_end,
        }
        .min(self.high);
        if self.response_high > next && self.response_high < end {
            end = self.response_high;
        }
        while self.next < end {
            let sequence = self.next;
            if let Some(message) = self.store.get(sequence) {
                sink.message(sequence, message);
                self.store.remove(sequence);
                self.buffered -= 1;
                self.stats.messages_delivered += 1;
                self.next = sequence + 1;
            } else {
                let mut run_end = sequence + 1;
                while run_end < end && !self.store.contains(run_end) {
                    run_end += 1;
                }
                let count = run_end - sequence;
                self.stats.messages_lost += count;
                sink.lost(sequence, count);
                self.next = run_end;
            }
        }
        self.drain(sink);
    }

    fn maybe_request(&mut self, now_ns: u64) -> Option<Action> {
        let c = &self.config;
        if c.max_request_attempts == 0 || self.gap.attempts >= c.max_request_attempts {
            return None;
        }
        if now_ns.saturating_sub(self.gap.detected_ns) < c.request_delay_ns {
            return None;
        }
        if let Some(last) = self.last_request_ns {
            if now_ns.saturating_sub(last) < c.request_interval_ns {
                return None;
            }
        }
        let mut timed_out = false;
        if let Some(r) = self.gap.request {
            let filled = self.next >= r.end();
            timed_out = now_ns.saturating_sub(r.sent_ns) >= c.request_timeout_ns;
            if !filled && !timed_out {
                return None;
            }
            timed_out &= !filled;
        }
        let sequence = self.next;
        let count = (self.high - sequence).min(u64::from(c.max_request_count)) as u16;
        self.gap.request = Some(Outstanding {
            sequence,
            count,
            sent_ns: now_ns,
        });
        self.gap.attempts += 1;
        self.last_request_ns = Some(now_ns);
        self.stats.requests_sent += 1;
        if timed_out {
            self.stats.request_timeouts += 1;
        }
        Some(Action::Request { sequence, count })
    }
}
