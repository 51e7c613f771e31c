//! MoldUDP64 wire format: zero-copy views ([`Packet`], [`Request`]) validated once by
//! `new_checked`, and allocation-free writers ([`PacketBuilder`], [`write_heartbeat`],
//! [`write_end_of_session`], [`write_request`]) that fill a caller-provided buffer.
//!
//! Downstream packet (all integers big-endian):
//!
//! ```text
//! 0        10         18     20
//! | session | sequence | count | count x ( u16 length | length bytes ) |
//! ```
//!
//! `count == 0` is a heartbeat and `count == 0xFFFF` is end of session; both carry the
//! next expected sequence number and no message blocks. A request packet is the same
//! 20-byte header with `count` meaning "number of messages requested".
//!
//! Framing policy: a packet must be *exactly* its header plus its `count` message blocks.
//! Bytes after the last block (or after a heartbeat / end-of-session header) are
//! rejected with [`MoldError::TrailingBytes`]: MoldUDP64 packets are sent exactly sized
//! (the UDP length delimits them, so link-layer padding never reaches this layer), and a
//! packet that does not add up is misframed or corrupt, so none of its messages can be
//! trusted. A data packet whose last message sequence number would overflow `u64` is
//! rejected with [`MoldError::SequenceOverflow`].

use core::ops::Range;

/// Length of the session field.
pub const SESSION_LEN: usize = 10;
/// Length of the downstream packet header.
pub const HEADER_LEN: usize = 20;
/// Length of a request packet (exactly).
pub const REQUEST_LEN: usize = 20;
/// Length of the length prefix of a message block.
pub const BLOCK_HEADER_LEN: usize = 2;
/// Message count of a heartbeat.
pub const HEARTBEAT_COUNT: u16 = 0;
/// Message count of an end-of-session packet.
pub const END_OF_SESSION_COUNT: u16 = 0xFFFF;
/// Largest message count of a data packet (0xFFFF means end of session).
pub const MAX_MESSAGES_PER_PACKET: u16 = 0xFFFE;
/// Largest message a block can carry.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// A MoldUDP64 session name: 10 ASCII bytes (usually alphanumeric, space padded).
pub type SessionId = [u8; SESSION_LEN];

/// Byte ranges of the header fields (shared by downstream and request packets).
pub mod field {
    use core::ops::Range;
    /// Session name, 10 ASCII bytes.
    pub const SESSION: Range<usize> = 0..10;
    /// Sequence number (u64 big-endian).
    pub const SEQUENCE: Range<usize> = 10..18;
    /// Message count (u16 big-endian).
    pub const COUNT: Range<usize> = 18..20;
    /// First message block of a downstream packet.
    pub const BLOCKS: usize = 20;
}

/// What is wrong with a packet; every variant names the offending field and numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoldError {
    /// The buffer is shorter than the fixed header.
    #[error("MoldUDP64 header truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    /// A message block's 2-byte length prefix does not fit in the buffer.
    #[error(
        "MoldUDP64 message block {index} at offset {offset}: length prefix needs 2 bytes, \
         {remaining} remain"
    )]
    BlockHeaderTruncated {
        index: u16,
        offset: usize,
        remaining: usize,
    },
    /// A message block's length runs past the end of the buffer.
    #[error(
        "MoldUDP64 message block {index} at offset {offset}: length {len} overruns the \
         packet, {remaining} bytes remain after the length prefix"
    )]
    BlockOverrun {
        index: u16,
        offset: usize,
        len: u16,
        remaining: usize,
    },
    /// Bytes left over after the last message block (or after a bare header).
    #[error("MoldUDP64 packet has {extra} trailing bytes after offset {offset}")]
    TrailingBytes { offset: usize, extra: usize },
    /// `sequence + count` does not fit in a `u64`.
    #[error("MoldUDP64 sequence {sequence} + count {count} overflows u64")]
    SequenceOverflow { sequence: u64, count: u16 },
}

/// The variant of a [`MoldError`] without its numbers, for counting by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MoldErrorKind {
    Truncated = 0,
    BlockHeaderTruncated = 1,
    BlockOverrun = 2,
    TrailingBytes = 3,
    SequenceOverflow = 4,
}

impl MoldErrorKind {
    /// Number of kinds (length of per-reason counter arrays).
    pub const COUNT: usize = 5;
    /// Every kind, in index order.
    pub const ALL: [MoldErrorKind; Self::COUNT] = [
        MoldErrorKind::Truncated,
        MoldErrorKind::BlockHeaderTruncated,
        MoldErrorKind::BlockOverrun,
        MoldErrorKind::TrailingBytes,
        MoldErrorKind::SequenceOverflow,
    ];

    /// Index into a per-reason counter array.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name (for counters and logs).
    pub const fn name(self) -> &'static str {
        match self {
            MoldErrorKind::Truncated => "truncated",
            MoldErrorKind::BlockHeaderTruncated => "block_header_truncated",
            MoldErrorKind::BlockOverrun => "block_overrun",
            MoldErrorKind::TrailingBytes => "trailing_bytes",
            MoldErrorKind::SequenceOverflow => "sequence_overflow",
        }
    }
}

impl MoldError {
    /// The reason without its numbers.
    pub const fn kind(&self) -> MoldErrorKind {
        match self {
            MoldError::Truncated { .. } => MoldErrorKind::Truncated,
            MoldError::BlockHeaderTruncated { .. } => MoldErrorKind::BlockHeaderTruncated,
            MoldError::BlockOverrun { .. } => MoldErrorKind::BlockOverrun,
            MoldError::TrailingBytes { .. } => MoldErrorKind::TrailingBytes,
            MoldError::SequenceOverflow { .. } => MoldErrorKind::SequenceOverflow,
        }
    }
}

/// What a downstream packet is, from its message count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// `count` in `1..=0xFFFE`: carries messages.
    Data,
    /// `count == 0`: carries only the next expected sequence number.
    Heartbeat,
    /// `count == 0xFFFF`: the session is over; carries the next expected sequence number.
    EndOfSession,
}

#[inline]
fn read_u64(buf: &[u8], range: Range<usize>) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[range]);
    u64::from_be_bytes(b)
}

#[inline]
fn read_u16(buf: &[u8], range: Range<usize>) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&buf[range]);
    u16::from_be_bytes(b)
}

#[inline]
fn read_session(buf: &[u8]) -> &SessionId {
    buf[field::SESSION]
        .try_into()
        .expect("the session field is exactly SESSION_LEN bytes")
}

/// Walks `count` message blocks starting at `field::BLOCKS`; returns the offset just past
/// the last block, or what is wrong.
fn walk_blocks(buf: &[u8], count: u16) -> Result<usize, MoldError> {
    let mut offset = field::BLOCKS;
    for index in 0..count {
        let remaining = buf.len() - offset;
        if remaining < BLOCK_HEADER_LEN {
            return Err(MoldError::BlockHeaderTruncated {
                index,
                offset,
                remaining,
            });
        }
        let len = u16::from_be_bytes([buf[offset], buf[offset + 1]]);
        let remaining = remaining - BLOCK_HEADER_LEN;
        if usize::from(len) > remaining {
            return Err(MoldError::BlockOverrun {
                index,
                offset,
                len,
                remaining,
            });
        }
        offset += BLOCK_HEADER_LEN + usize::from(len);
    }
    Ok(offset)
}

/// A zero-copy view of a MoldUDP64 downstream packet.
///
/// Build it with [`Packet::new_checked`], which validates the whole framing once; the
/// accessors then never fail. [`Packet::new_unchecked`] skips validation: its header
/// accessors panic if the buffer is shorter than [`HEADER_LEN`], and its message
/// iterator stops early (never panics) at the first block that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without validating it (see the type's documentation).
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps and validates a buffer: header length, every block length within the
    /// buffer, exactly `count` blocks, no trailing bytes, no sequence overflow.
    pub fn new_checked(buffer: T) -> Result<Self, MoldError> {
        let packet = Packet::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Validates the framing (what [`Packet::new_checked`] runs).
    pub fn check(&self) -> Result<(), MoldError> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(MoldError::Truncated {
                need: HEADER_LEN,
                have: buf.len(),
            });
        }
        let count = read_u16(buf, field::COUNT);
        let end = match count {
            HEARTBEAT_COUNT | END_OF_SESSION_COUNT => HEADER_LEN,
            n => {
                let sequence = read_u64(buf, field::SEQUENCE);
                if sequence.checked_add(u64::from(n)).is_none() {
                    return Err(MoldError::SequenceOverflow { sequence, count: n });
                }
                walk_blocks(buf, n)?
            }
        };
        if end != buf.len() {
            return Err(MoldError::TrailingBytes {
                offset: end,
                extra: buf.len() - end,
            });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The packet's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Length of the packet in bytes.
    pub fn len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// Never true for a checked packet (the header is always there).
    pub fn is_empty(&self) -> bool {
        self.buffer.as_ref().is_empty()
    }

    /// The session name (10 ASCII bytes).
    #[inline]
    pub fn session(&self) -> &SessionId {
        read_session(self.buffer.as_ref())
    }

    /// Sequence number of the first message (for heartbeats and end of session: the
    /// next expected sequence number).
    #[inline]
    pub fn sequence(&self) -> u64 {
        read_u64(self.buffer.as_ref(), field::SEQUENCE)
    }

    /// The raw message count field (0 = heartbeat, 0xFFFF = end of session).
    #[inline]
    pub fn count(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::COUNT)
    }

    /// Number of message blocks carried (0 for heartbeats and end of session).
    #[inline]
    pub fn message_count(&self) -> u16 {
        match self.count() {
            END_OF_SESSION_COUNT => 0,
            n => n,
        }
    }

    /// Sequence number following this packet: `sequence + message_count`.
    #[inline]
    pub fn next_sequence(&self) -> u64 {
        self.sequence()
            .wrapping_add(u64::from(self.message_count()))
    }

    /// Data, heartbeat or end of session.
    #[inline]
    pub fn kind(&self) -> PacketKind {
        match self.count() {
            HEARTBEAT_COUNT => PacketKind::Heartbeat,
            END_OF_SESSION_COUNT => PacketKind::EndOfSession,
            _ => PacketKind::Data,
        }
    }

    /// `count == 0`.
    #[inline]
    pub fn is_heartbeat(&self) -> bool {
        self.count() == HEARTBEAT_COUNT
    }

    /// `count == 0xFFFF`.
    #[inline]
    pub fn is_end_of_session(&self) -> bool {
        self.count() == END_OF_SESSION_COUNT
    }

    /// The message payloads (without their length prefixes), in order.
    #[inline]
    pub fn messages(&self) -> Messages<'_> {
        let buf = self.buffer.as_ref();
        Messages {
            buf,
            offset: field::BLOCKS,
            remaining: if buf.len() >= HEADER_LEN {
                self.message_count()
            } else {
                0
            },
        }
    }

    /// The messages paired with their sequence numbers.
    #[inline]
    pub fn sequenced(&self) -> Sequenced<'_> {
        Sequenced {
            next: if self.buffer.as_ref().len() >= HEADER_LEN {
                self.sequence()
            } else {
                0
            },
            inner: self.messages(),
        }
    }
}

/// Iterator over the message payloads of a [`Packet`]; allocation-free.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    buf: &'a [u8],
    offset: usize,
    remaining: u16,
}

impl<'a> Iterator for Messages<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let start = self.offset + BLOCK_HEADER_LEN;
        let len = match self.buf.get(self.offset..start) {
            Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => {
                self.remaining = 0;
                return None;
            }
        };
        match self.buf.get(start..start + len) {
            Some(message) => {
                self.offset = start + len;
                self.remaining -= 1;
                Some(message)
            }
            None => {
                self.remaining = 0;
                None
            }
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.remaining)))
    }
}

/// Iterator over `(sequence, payload)` of a [`Packet`]; allocation-free.
#[derive(Debug, Clone)]
pub struct Sequenced<'a> {
    next: u64,
    inner: Messages<'a>,
}

impl<'a> Iterator for Sequenced<'a> {
    type Item = (u64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(u64, &'a [u8])> {
        let message = self.inner.next()?;
        let sequence = self.next;
        self.next = self.next.wrapping_add(1);
        Some((sequence, message))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// A zero-copy view of a MoldUDP64 request packet (client -> request server): exactly
/// 20 bytes, session + first requested sequence + number of messages requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Request<T> {
    /// Wraps a buffer without validating it; accessors panic if it is shorter than
    /// [`REQUEST_LEN`].
    pub const fn new_unchecked(buffer: T) -> Self {
        Request { buffer }
    }

    /// Wraps and validates: exactly [`REQUEST_LEN`] bytes and `sequence + count` fits
    /// in a `u64`. A count of 0 is well formed (servers decide what to do with it).
    pub fn new_checked(buffer: T) -> Result<Self, MoldError> {
        let buf = buffer.as_ref();
        if buf.len() < REQUEST_LEN {
            return Err(MoldError::Truncated {
                need: REQUEST_LEN,
                have: buf.len(),
            });
        }
        if buf.len() > REQUEST_LEN {
            return Err(MoldError::TrailingBytes {
                offset: REQUEST_LEN,
                extra: buf.len() - REQUEST_LEN,
            });
        }
        let sequence = read_u64(buf, field::SEQUENCE);
        let count = read_u16(buf, field::COUNT);
        if sequence.checked_add(u64::from(count)).is_none() {
            return Err(MoldError::SequenceOverflow { sequence, count });
        }
        Ok(Request { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The session the requester is asking about.
    pub fn session(&self) -> &SessionId {
        read_session(self.buffer.as_ref())
    }

    /// First requested sequence number.
    pub fn sequence(&self) -> u64 {
        read_u64(self.buffer.as_ref(), field::SEQUENCE)
    }

    /// Number of messages requested.
    pub fn count(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::COUNT)
    }
}

/// Why a packet could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The buffer cannot even hold the fixed-size packet or header.
    #[error("buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall { need: usize, have: usize },
    /// The packet is full: the message block does not fit in what is left.
    #[error("packet full: message block needs {need} bytes, {free} free")]
    Full { need: usize, free: usize },
    /// A message longer than a block's u16 length can describe.
    #[error("message of {len} bytes is longer than the MoldUDP64 maximum of 65535")]
    MessageTooLong { len: usize },
    /// The packet already holds 0xFFFE messages (0xFFFF means end of session).
    #[error("packet already holds the maximum of 65534 messages")]
    TooManyMessages,
    /// Adding a message would make the last sequence number overflow `u64`.
    #[error("sequence {sequence} + count {count} would overflow u64")]
    SequenceOverflow { sequence: u64, count: u16 },
    /// The session id is not known yet (no packet seen, none configured).
    #[error("the session id is not known yet")]
    UnknownSession,
}

fn write_header(buf: &mut [u8], session: &SessionId, sequence: u64, count: u16) {
    buf[field::SESSION].copy_from_slice(session);
    buf[field::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
    buf[field::COUNT].copy_from_slice(&count.to_be_bytes());
}

fn write_fixed(
    buf: &mut [u8],
    session: &SessionId,
    sequence: u64,
    count: u16,
) -> Result<usize, BuildError> {
    if buf.len() < HEADER_LEN {
        return Err(BuildError::BufferTooSmall {
            need: HEADER_LEN,
            have: buf.len(),
        });
    }
    write_header(buf, session, sequence, count);
    Ok(HEADER_LEN)
}

/// Writes a heartbeat (count 0) carrying `next_sequence`; returns its length (20).
pub fn write_heartbeat(
    buf: &mut [u8],
    session: &SessionId,
    next_sequence: u64,
) -> Result<usize, BuildError> {
    write_fixed(buf, session, next_sequence, HEARTBEAT_COUNT)
}

/// Writes an end-of-session packet (count 0xFFFF) carrying `next_sequence`; returns its
/// length (20).
pub fn write_end_of_session(
    buf: &mut [u8],
    session: &SessionId,
    next_sequence: u64,
) -> Result<usize, BuildError> {
    write_fixed(buf, session, next_sequence, END_OF_SESSION_COUNT)
}

/// Writes a request packet for `count` messages from `sequence`; returns its length (20).
pub fn write_request(
    buf: &mut [u8],
    session: &SessionId,
    sequence: u64,
    count: u16,
) -> Result<usize, BuildError> {
    if sequence.checked_add(u64::from(count)).is_none() {
        return Err(BuildError::SequenceOverflow { sequence, count });
    }
    write_fixed(buf, session, sequence, count)
}

/// Writes a downstream data packet into a caller-provided buffer, message by message,
/// without allocating. The buffer's length (or `max_len`, see
/// [`PacketBuilder::with_max_len`]) is the packet's size limit, e.g. the UDP payload
/// that fits one MTU. At every point `as_bytes()` is a valid packet (a heartbeat while
/// empty).
#[derive(Debug)]
pub struct PacketBuilder<'a> {
    buf: &'a mut [u8],
    len: usize,
    count: u16,
    sequence: u64,
}

impl<'a> PacketBuilder<'a> {
    /// Starts a packet whose first message will have sequence number `sequence`; the
    /// whole of `buf` is the size limit.
    pub fn new(buf: &'a mut [u8], session: &SessionId, sequence: u64) -> Result<Self, BuildError> {
        if buf.len() < HEADER_LEN {
            return Err(BuildError::BufferTooSmall {
                need: HEADER_LEN,
                have: buf.len(),
            });
        }
        write_header(buf, session, sequence, 0);
        Ok(PacketBuilder {
            buf,
            len: HEADER_LEN,
            count: 0,
            sequence,
        })
    }

    /// Like [`PacketBuilder::new`] with the packet limited to `max_len` bytes (e.g. the
    /// UDP payload of one MTU) even if `buf` is larger.
    pub fn with_max_len(
        buf: &'a mut [u8],
        session: &SessionId,
        sequence: u64,
        max_len: usize,
    ) -> Result<Self, BuildError> {
        let limit = buf.len().min(max_len);
        PacketBuilder::new(&mut buf[..limit], session, sequence)
    }

    /// Appends a message block, or says why not (the packet is unchanged on error;
    /// [`BuildError::Full`] means "send this packet and start another").
    pub fn push(&mut self, message: &[u8]) -> Result<(), BuildError> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(BuildError::MessageTooLong { len: message.len() });
        }
        if self.count == MAX_MESSAGES_PER_PACKET {
            return Err(BuildError::TooManyMessages);
        }
        if self
            .sequence
            .checked_add(u64::from(self.count) + 1)
            .is_none()
        {
            return Err(BuildError::SequenceOverflow {
                sequence: self.sequence,
                count: self.count + 1,
            });
        }
        let need = BLOCK_HEADER_LEN + message.len();
        let free = self.buf.len() - self.len;
        if need > free {
            return Err(BuildError::Full { need, free });
        }
        let start = self.len + BLOCK_HEADER_LEN;
        self.buf[self.len..start].copy_from_slice(&(message.len() as u16).to_be_bytes());
        self.buf[start..start + message.len()].copy_from_slice(message);
        self.len = start + message.len();
        self.count += 1;
        self.buf[field::COUNT].copy_from_slice(&self.count.to_be_bytes());
        Ok(())
    }

    /// Whether a message of `len` bytes would fit (space only).
    pub fn fits(&self, len: usize) -> bool {
        BLOCK_HEADER_LEN + len <= self.buf.len() - self.len
    }

    /// Messages pushed so far.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// No message pushed yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes written so far (header included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes still free.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Sequence number of the first message.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Sequence number the next pushed message will get.
    pub fn next_sequence(&self) -> u64 {
        self.sequence + u64::from(self.count)
    }

    /// The packet written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Ends the packet and returns its bytes.
    pub fn finish(self) -> &'a [u8] {
        let PacketBuilder { buf, len, .. } = self;
        &buf[..len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: SessionId = *b"TESTSESS01";

    #[test]
    fn builder_round_trips_and_respects_limit() {
        let mut buf = [0u8; 64];
        let mut b = PacketBuilder::with_max_len(&mut buf, &S, 7, 40).unwrap();
        b.push(b"hello").unwrap(); // 20 + 7 = 27
        b.push(b"").unwrap(); // 29
        assert_eq!(
            b.push(b"0123456789ab"),
            Err(BuildError::Full { need: 14, free: 11 })
        );
        b.push(b"012345678").unwrap(); // 40
        assert_eq!(b.remaining(), 0);
        let bytes = b.finish();
        assert_eq!(bytes.len(), 40);
        let p = Packet::new_checked(bytes).unwrap();
        assert_eq!(p.session(), &S);
        assert_eq!(p.sequence(), 7);
        assert_eq!(p.count(), 3);
        assert_eq!(p.kind(), PacketKind::Data);
        assert_eq!(p.next_sequence(), 10);
        let got: Vec<(u64, &[u8])> = p.sequenced().collect();
        assert_eq!(
            got,
            vec![(7, &b"hello"[..]), (8, &b""[..]), (9, &b"012345678"[..])]
        );
    }

    #[test]
    fn empty_builder_is_a_heartbeat() {
        let mut buf = [0u8; 32];
        let b = PacketBuilder::new(&mut buf, &S, 5).unwrap();
        let p = Packet::new_checked(b.as_bytes()).unwrap();
        assert!(p.is_heartbeat());
        assert_eq!(p.sequence(), 5);
        assert_eq!(p.messages().count(), 0);
    }

    #[test]
    fn builder_refuses_sequence_overflow_and_tiny_buffers() {
        let mut buf = [0u8; 64];
        let mut b = PacketBuilder::new(&mut buf, &S, u64::MAX - 1).unwrap();
        b.push(b"x").unwrap();
        assert_eq!(
            b.push(b"y"),
            Err(BuildError::SequenceOverflow {
                sequence: u64::MAX - 1,
                count: 2
            })
        );
        let mut small = [0u8; 19];
        assert_eq!(
            PacketBuilder::new(&mut small, &S, 1).err(),
            Some(BuildError::BufferTooSmall { need: 20, have: 19 })
        );
        assert_eq!(
            write_heartbeat(&mut small, &S, 1),
            Err(BuildError::BufferTooSmall { need: 20, have: 19 })
        );
    }

    #[test]
    fn fixed_packets() {
        let mut buf = [0u8; 20];
        assert_eq!(write_heartbeat(&mut buf, &S, 42), Ok(20));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.is_heartbeat() && !p.is_end_of_session());
        assert_eq!(
            (p.sequence(), p.message_count(), p.next_sequence()),
            (42, 0, 42)
        );

        assert_eq!(write_end_of_session(&mut buf, &S, 43), Ok(20));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.is_end_of_session());
        assert_eq!(p.kind(), PacketKind::EndOfSession);
        assert_eq!(
            (p.sequence(), p.message_count(), p.next_sequence()),
            (43, 0, 43)
        );
        assert_eq!(p.messages().count(), 0);

        assert_eq!(write_request(&mut buf, &S, 100, 25), Ok(20));
        let r = Request::new_checked(&buf[..]).unwrap();
        assert_eq!((r.session(), r.sequence(), r.count()), (&S, 100, 25));
    }

    #[test]
    fn framing_errors_name_the_problem() {
        let mut buf = [0u8; 64];
        let mut b = PacketBuilder::new(&mut buf, &S, 1).unwrap();
        b.push(b"abc").unwrap();
        b.push(b"defg").unwrap();
        let n = b.len();
        let good = buf[..n].to_vec();
        assert!(Packet::new_checked(&good[..]).is_ok());

        assert_eq!(
            Packet::new_checked(&good[..19]).err(),
            Some(MoldError::Truncated { need: 20, have: 19 })
        );
        // Cut inside the second block's payload.
        assert_eq!(
            Packet::new_checked(&good[..n - 1]).err(),
            Some(MoldError::BlockOverrun {
                index: 1,
                offset: 25,
                len: 4,
                remaining: 3
            })
        );
        // Cut inside the second block's length prefix.
        assert_eq!(
            Packet::new_checked(&good[..26]).err(),
            Some(MoldError::BlockHeaderTruncated {
                index: 1,
                offset: 25,
                remaining: 1
            })
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(
            Packet::new_checked(&long[..]).err(),
            Some(MoldError::TrailingBytes {
                offset: n,
                extra: 1
            })
        );
        // Heartbeat / end of session with data after the header.
        let mut hb = [0u8; 22];
        write_end_of_session(&mut hb, &S, 9).unwrap();
        assert_eq!(
            Packet::new_checked(&hb[..]).err(),
            Some(MoldError::TrailingBytes {
                offset: 20,
                extra: 2
            })
        );
        let mut ovf = good.clone();
        ovf[field::SEQUENCE].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&ovf[..]).err(),
            Some(MoldError::SequenceOverflow {
                sequence: u64::MAX,
                count: 2
            })
        );
        assert_eq!(
            Packet::new_checked(&ovf[..]).unwrap_err().kind(),
            MoldErrorKind::SequenceOverflow
        );
    }

    #[test]
    fn request_length_is_exact() {
        let mut buf = [0u8; 21];
        write_request(&mut buf, &S, 1, 1).unwrap();
        assert_eq!(
            Request::new_checked(&buf[..19]).err(),
            Some(MoldError::Truncated { need: 20, have: 19 })
        );
        assert_eq!(
            Request::new_checked(&buf[..]).err(),
            Some(MoldError::TrailingBytes {
                offset: 20,
                extra: 1
            })
        );
        assert_eq!(
            write_request(&mut buf, &S, u64::MAX, 1),
            Err(BuildError::SequenceOverflow {
                sequence: u64::MAX,
                count: 1
            })
        );
    }

    #[test]
    fn unchecked_iterator_stops_instead_of_panicking() {
        let mut buf = [0u8; 64];
        let mut b = PacketBuilder::new(&mut buf, &S, 1).unwrap();
        b.push(b"abcdef").unwrap();
        let n = b.len();
        let mut bad = buf[..n].to_vec();
        bad[field::COUNT].copy_from_slice(&5u16.to_be_bytes());
        let p = Packet::new_unchecked(&bad[..]);
        assert!(p.check().is_err());
        assert_eq!(p.messages().collect::<Vec<_>>(), vec![&b"abcdef"[..]]);
        let p = Packet::new_unchecked(&bad[..24]);
        assert_eq!(p.messages().count(), 0);
        let p = Packet::new_unchecked(&bad[..3]);
        assert_eq!(p.messages().count(), 0);
        assert_eq!(p.sequenced().count(), 0);
    }
}
