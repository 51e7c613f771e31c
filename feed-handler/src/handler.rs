//! The feed handler: packets in, MoldUDP64 session, ITCH 5.0 decode, L3 books, market
//! data out.
//!
//! [`Feed`] owns a [`Session`] and a [`Core`]; the core owns the books, the counters
//! and the publisher (any [`BookSink`], e.g. [`ShmPublisher`] onto the shm broadcast
//! ring). Everything is allocated in [`Feed::new`]; handling a packet or a message
//! allocates nothing, takes no lock, makes no system call and logs nothing. Bad input
//! is counted by reason and skipped.

use std::net::{SocketAddrV4, UdpSocket};

use hotpath_book::{
    BboUpdate, BookConfig, BookSink, Books, LevelUpdate, Prefetched, Side, Trade, TradeKind,
};
use hotpath_shm::broadcast::Publisher;
use hotpath_shm::md::{MdEvent, KIND_BBO, KIND_LEVEL, KIND_STATUS, KIND_TRADE};

use crate::itch::{
    self, AddOrder, AddOrderMpid, ItchError, LengthPrefixed, NonCrossTrade, OrderCancel,
    OrderDelete, OrderExecuted, OrderExecutedWithPrice, OrderReplace, StockDirectory,
    StockTradingAction, SystemEvent, View,
};
use crate::moldudp64::{self, Action, Line, Rejected, Session, SessionConfig};
use crate::source::{PacketSource, RxMeta, SourceError};

/// Message counts by ITCH type and what was skipped, by reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStats {
    /// Messages delivered to the decoder (in sequence, once each).
    pub messages: u64,
    /// Messages by type byte.
    pub by_type: [u64; 256],
    /// Messages of a type ITCH 5.0 does not define (skipped by their length).
    pub unknown_type: u64,
    /// Messages whose length is wrong for their type.
    pub bad_length: u64,
    /// Zero-length messages.
    pub empty: u64,
    /// Orders with a side that is neither B nor S.
    pub bad_side: u64,
    /// Messages for locates outside the `--symbols` filter (decoded, not applied).
    pub filtered: u64,
    /// Messages the session gave up on (never received): the books may be wrong.
    pub lost: u64,
    /// Truncated records at the end of a raw ITCH file.
    pub framing_errors: u64,
    /// Market-data events published.
    pub published: u64,
}

impl Default for FeedStats {
    fn default() -> Self {
        FeedStats {
            messages: 0,
            by_type: [0; 256],
            unknown_type: 0,
            bad_length: 0,
            empty: 0,
            bad_side: 0,
            filtered: 0,
            lost: 0,
            framing_errors: 0,
            published: 0,
        }
    }
}

impl FeedStats {
    /// (type byte, count) for every type seen, in ITCH's order.
    pub fn type_counts(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        itch::TYPES
            .iter()
            .map(|&t| (t, self.by_type[t as usize]))
            .filter(|&(_, n)| n > 0)
    }
}

/// Which locates to apply to the books: all, or those whose stock directory (R)
/// message names one of the given symbols.
#[derive(Debug, Clone)]
pub struct SymbolFilter {
    symbols: Vec<[u8; 8]>,
    /// Per locate: applied?
    enabled: Vec<bool>,
}

impl SymbolFilter {
    /// Only these symbols (as typed: `AAPL`; padded to ITCH's 8 bytes).
    pub fn new(symbols: &[&str]) -> SymbolFilter {
        SymbolFilter {
            symbols: symbols.iter().map(|s| pad_symbol(s)).collect(),
            enabled: vec![false; 1 << 16],
        }
    }

    /// Whether the filter admits a stock directory's symbol.
    pub fn admits(&self, symbol: &[u8; 8]) -> bool {
        self.symbols.contains(symbol)
    }
}

/// `AAPL` -> `b"AAPL    "` (ITCH's space-padded 8-byte stock field; longer is cut).
pub fn pad_symbol(s: &str) -> [u8; 8] {
    let mut out = [b' '; 8];
    let b = s.as_bytes();
    let n = b.len().min(8);
    out[..n].copy_from_slice(&b[..n]);
    out
}

/// The ITCH stock field as text, padding removed.
pub fn symbol_str(s: &[u8; 8]) -> String {
    String::from_utf8_lossy(s).trim_end().to_string()
}

/// Publishes book changes as [`MdEvent`]s on a shm broadcast ring (never waits).
#[derive(Debug)]
pub struct ShmPublisher {
    ring: Publisher<MdEvent>,
    receive_ts_ns: u64,
    book_ts_ns: u64,
    levels: bool,
    published: u64,
}

impl ShmPublisher {
    /// Publishes onto `ring`; with `levels == false` only BBO, trade and status events.
    pub fn new(ring: Publisher<MdEvent>, levels: bool) -> ShmPublisher {
        ShmPublisher {
            ring,
            receive_ts_ns: 0,
            book_ts_ns: 0,
            levels,
            published: 0,
        }
    }

    #[inline]
    fn publish(&mut self, mut ev: MdEvent) {
        ev.seq = self.ring.position();
        ev.receive_ts_ns = self.receive_ts_ns;
        ev.book_ts_ns = self.book_ts_ns;
        self.ring.publish(&ev);
        self.published += 1;
    }

    /// Events published so far.
    pub fn published(&self) -> u64 {
        self.published
    }
}

fn side_byte(s: Side) -> u8 {
    s.to_itch()
}

impl BookSink for ShmPublisher {
    #[inline]
    fn level(&mut self, u: &LevelUpdate) {
        if !self.levels {
            return;
        }
        self.publish(MdEvent {
            exchange_ts_ns: u.ts,
            price: u.price,
            shares: u.shares.min(u32::MAX as u64) as u32,
            orders: u.orders,
            stock_locate: u.locate,
            kind: KIND_LEVEL,
            side: side_byte(u.side),
            ..MdEvent::default()
        });
    }

    #[inline]
    fn bbo(&mut self, u: &BboUpdate) {
        let (bp, bs, bo) = u
            .bbo
            .bid
            .map(|l| (l.price, l.shares.min(u32::MAX as u64) as u32, l.orders))
            .unwrap_or((0, 0, 0));
        let (ap, as_, ao) = u
            .bbo
            .ask
            .map(|l| (l.price, l.shares.min(u32::MAX as u64) as u32, l.orders))
            .unwrap_or((0, 0, 0));
        self.publish(MdEvent {
            exchange_ts_ns: u.ts,
            price: bp,
            shares: bs,
            orders: bo,
            price2: ap,
            shares2: as_,
            orders2: ao,
            stock_locate: u.locate,
            kind: KIND_BBO,
            ..MdEvent::default()
        });
    }

    #[inline]
    fn trade(&mut self, t: &Trade) {
        let m = t.order_ref; // the order's reference: the book has no match number
        self.publish(MdEvent {
            exchange_ts_ns: t.ts,
            price: t.price,
            shares: t.shares,
            price2: m as u32,
            shares2: (m >> 32) as u32,
            stock_locate: t.locate,
            kind: KIND_TRADE,
            side: match t.kind {
                TradeKind::NonCross | TradeKind::Execution | TradeKind::ExecutionWithPrice => {
                    side_byte(t.side)
                }
            },
            ..MdEvent::default()
        });
    }

    #[inline]
    fn trading_state(&mut self, locate: u16, state: u8, ts: u64) {
        self.publish(MdEvent {
            exchange_ts_ns: ts,
            stock_locate: locate,
            kind: KIND_STATUS,
            side: state,
            ..MdEvent::default()
        });
    }
}

/// Where time stamps for publishing come from; set per packet by the feed loop.
pub trait Stamped {
    /// The packet's receive time and the time its processing starts.
    fn stamp(&mut self, receive_ts_ns: u64, book_ts_ns: u64);
    /// Events published so far.
    fn published(&self) -> u64 {
        0
    }
}

impl Stamped for hotpath_book::NullSink {
    fn stamp(&mut self, _: u64, _: u64) {}
}

impl Stamped for ShmPublisher {
    #[inline]
    fn stamp(&mut self, receive_ts_ns: u64, book_ts_ns: u64) {
        self.receive_ts_ns = receive_ts_ns;
        self.book_ts_ns = book_ts_ns;
    }
    fn published(&self) -> u64 {
        self.published
    }
}

/// An add (`A` or `F`, whose views share the fields an add needs) applied by
/// [`Core::apply`]; a side that is neither B nor S is counted.
macro_rules! apply_add {
    ($core:ident, $view:ty, $msg:ident) => {
        if let Some((a, p, b, st)) = $core.accept::<$view>($msg) {
            match a.side() {
                Some(side) => b.add(
                    a.stock_locate(),
                    a.order_ref(),
                    side,
                    a.shares(),
                    a.price(),
                    a.timestamp(),
                    p,
                ),
                None => st.bad_side += 1,
            }
        }
    };
}

/// Message types that name a live order the book will change (E C X D U), by type byte.
static REFERS_TO_LIVE_ORDER: [bool; 256] = {
    let mut t = [false; 256];
    t[b'E' as usize] = true;
    t[b'C' as usize] = true;
    t[b'X' as usize] = true;
    t[b'D' as usize] = true;
    t[b'U' as usize] = true;
    t
};

/// Books, counters and the publisher: what each in-sequence message goes through.
#[derive(Debug)]
pub struct Core<P> {
    pub books: Books,
    pub stats: FeedStats,
    pub publisher: P,
    filter: Option<SymbolFilter>,
    /// Sequence (or position) of the last message applied.
    pub last_seq: u64,
}

impl<P: BookSink + Stamped> Core<P> {
    /// Starts the memory loads a coming message will need (its order's table slot, its
    /// stock's book record) so they overlap with the work on the messages before it.
    /// Reads only the fixed offsets of the ITCH header and order reference; anything
    /// too short is ignored (it will be rejected when applied). The answer is for
    /// [`Core::prefetch_late`].
    ///
    /// There is no test of the message type: the types arrive in no predictable
    /// order, so such a test is a branch the CPU mispredicts about every other message
    /// (valgrind's branch simulation counted 0.94 mispredictions per message for the
    /// two stages' type tests). Bytes 11..19 are the order reference of every order
    /// message (A F E C X D U P); of the rest they are harmless to hash. For an add,
    /// the slot prefetched is the home its claim will write.
    #[inline(always)]
    pub fn prefetch(&self, msg: &[u8]) -> Prefetched {
        let Some(r) = msg.get(11..19) else {
            return Prefetched::default();
        };
        let mut b = [0u8; 8];
        b.copy_from_slice(r);
        self.books
            .prefetch_locate(u16::from_be_bytes([msg[1], msg[2]]));
        self.books.prefetch(u64::from_be_bytes(b))
    }

    /// The second stage, a few messages later, with what [`Core::prefetch`] answered
    /// for the same message: the order's queue neighbours, for the types that change
    /// a live order (for the others it loads nothing new, chosen without a branch).
    #[inline(always)]
    pub fn prefetch_late(&self, msg: &[u8], first: Prefetched) {
        if let Some(&ty) = msg.first() {
            self.books
                .prefetch_neighbours(first, REFERS_TO_LIVE_ORDER[ty as usize]);
        }
    }

    /// Decodes one message and applies it to the books.
    ///
    /// One jump on the type byte does both the decode and the dispatch: each arm
    /// takes its type's view (the exact-length check) and applies it. Parsing into a
    /// [`itch::Message`] first and matching that would jump on the type twice per message.
    #[inline(always)]
    pub fn apply(&mut self, seq: u64, msg: &[u8]) {
        self.last_seq = seq;
        self.stats.messages += 1;
        let Some(&ty) = msg.first() else {
            self.stats.empty += 1;
            return;
        };
        match ty {
            AddOrder::TYPE => apply_add!(self, AddOrder, msg),
            AddOrderMpid::TYPE => apply_add!(self, AddOrderMpid, msg),
            OrderExecuted::TYPE => {
                if let Some((e, p, b, _)) = self.accept::<OrderExecuted>(msg) {
                    b.execute(
                        e.stock_locate(),
                        e.order_ref(),
                        e.executed_shares(),
                        e.timestamp(),
                        p,
                    )
                }
            }
            OrderExecutedWithPrice::TYPE => {
                if let Some((c, p, b, _)) = self.accept::<OrderExecutedWithPrice>(msg) {
                    b.execute_with_price(
                        c.stock_locate(),
                        c.order_ref(),
                        c.executed_shares(),
                        c.execution_price(),
                        c.timestamp(),
                        p,
                    )
                }
            }
            OrderCancel::TYPE => {
                if let Some((x, p, b, _)) = self.accept::<OrderCancel>(msg) {
                    b.cancel(
                        x.stock_locate(),
                        x.order_ref(),
                        x.cancelled_shares(),
                        x.timestamp(),
                        p,
                    )
                }
            }
            OrderDelete::TYPE => {
                if let Some((d, p, b, _)) = self.accept::<OrderDelete>(msg) {
                    b.delete(d.stock_locate(), d.order_ref(), d.timestamp(), p)
                }
            }
            OrderReplace::TYPE => {
                if let Some((u, p, b, _)) = self.accept::<OrderReplace>(msg) {
                    b.replace(
                        u.stock_locate(),
                        u.original_order_ref(),
                        u.new_order_ref(),
                        u.shares(),
                        u.price(),
                        u.timestamp(),
                        p,
                    )
                }
            }
            NonCrossTrade::TYPE => {
                if let Some((t, p, b, st)) = self.accept::<NonCrossTrade>(msg) {
                    match t.side() {
                        Some(side) => b.trade(
                            t.stock_locate(),
                            t.order_ref(),
                            side,
                            t.shares(),
                            t.price(),
                            t.timestamp(),
                            p,
                        ),
                        None => st.bad_side += 1,
                    }
                }
            }
            StockDirectory::TYPE => {
                let Some(r) = self.view::<StockDirectory>(msg) else {
                    return;
                };
                // The directory decides whether the `--symbols` filter admits its
                // locate, so it updates the filter before the filter is applied.
                let locate = r.stock_locate();
                if let Some(f) = &mut self.filter {
                    f.enabled[locate as usize] = f.admits(&r.stock());
                }
                if self.admitted(locate) {
                    self.books.stock_directory(locate, r.stock());
                }
            }
            StockTradingAction::TYPE => {
                if let Some((h, p, b, _)) = self.accept::<StockTradingAction>(msg) {
                    b.trading_action(h.stock_locate(), h.trading_state(), h.timestamp(), p)
                }
            }
            SystemEvent::TYPE => {
                if let Some((s, _, b, _)) = self.accept::<SystemEvent>(msg) {
                    b.system_event(s.event_code(), s.timestamp())
                }
            }
            // Cross trades, NOII, MWCB, LULD, IPO, Reg SHO, RPII, participant positions,
            // broken trades, DLCR, operational halts: checked and counted, no book
            // change. Unknown types: counted.
            _ => match itch::parse(msg) {
                Ok(m) => {
                    self.stats.by_type[ty as usize] += 1;
                    self.admitted(m.header().stock_locate());
                }
                Err(ItchError::UnknownType { .. }) => self.stats.unknown_type += 1,
                Err(_) => self.bad_length(),
            },
        }
    }

    /// Takes `msg` as a `T` (checks its length; counts it as a bad length or by
    /// its type).
    #[inline(always)]
    fn view<'m, T: View>(&mut self, msg: &'m [u8]) -> Option<&'m T> {
        let Ok(v) = T::ref_from_bytes(msg) else {
            self.bad_length();
            return None;
        };
        self.stats.by_type[T::TYPE as usize] += 1;
        Some(v)
    }

    /// [`Self::view`], then the `--symbols` filter; on success lends out what
    /// applying the message needs.
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    fn accept<'m, T: View>(
        &mut self,
        msg: &'m [u8],
    ) -> Option<(&'m T, &mut P, &mut Books, &mut FeedStats)> {
        let v = self.view::<T>(msg)?;
        if !self.admitted(v.header().stock_locate()) {
            return None;
        }
        Some((v, &mut self.publisher, &mut self.books, &mut self.stats))
    }

    /// Whether the `--symbols` filter lets a message for `locate` through (counting
    /// it as filtered if not). Locate 0 (market-wide messages) always passes.
    #[inline(always)]
    fn admitted(&mut self, locate: u16) -> bool {
        match &self.filter {
            Some(f) if locate != 0 && !f.enabled[locate as usize] => {
                self.stats.filtered += 1;
                false
            }
            _ => true,
        }
    }

    #[cold]
    fn bad_length(&mut self) {
        self.stats.bad_length += 1;
    }
}

impl<P: BookSink + Stamped> moldudp64::Sink for Core<P> {
    #[inline]
    fn message(&mut self, sequence: u64, message: &[u8]) {
        self.apply(sequence, message);
    }

    fn lost(&mut self, _first: u64, count: u64) {
        self.stats.lost += count;
    }
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct FeedConfig {
    pub books: BookConfig,
    pub session: SessionConfig,
    /// Only these symbols go to the books (None: all).
    pub symbols: Option<Vec<String>>,
}

/// The feed handler: a MoldUDP64 session in front of the books.
#[derive(Debug)]
pub struct Feed<P> {
    pub session: Session,
    pub core: Core<P>,
    requests: Option<RequestChannel>,
    /// Requests the session asked for.
    pub requests_sent: u64,
    /// Requests that could not be sent (socket errors), counted.
    pub request_errors: u64,
}

/// Walks a MoldUDP64 packet's message blocks (bounds-checked; a malformed packet just
/// stops the walk, the session will reject it) and prefetches for each message.
#[inline]
fn prefetch_packet<P: BookSink + Stamped>(core: &Core<P>, payload: &[u8]) {
    let mut at = moldudp64::HEADER_LEN;
    while let Some(len) = payload.get(at..at + 2) {
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        let Some(msg) = payload.get(at + 2..at + 2 + len) else {
            return;
        };
        let _ = core.prefetch(msg);
        at += 2 + len;
    }
}

fn send_request(
    session: &Session,
    ch: &mut RequestChannel,
    action: Action,
    sent: &mut u64,
    errors: &mut u64,
) {
    let mut req = [0u8; moldudp64::REQUEST_LEN];
    match session.write_request(&action, &mut req) {
        Ok(n) => match ch.socket.send_to(&req[..n], ch.server) {
            Ok(_) => *sent += 1,
            Err(_) => *errors += 1,
        },
        Err(_) => *errors += 1,
    }
}

/// Most re-request answers [`Feed::poll`] reads in one cycle; the rest wait for the
/// next (a request server sends up to 64 packets per request).
pub const MAX_ANSWERS_PER_POLL: usize = 64;

/// The unicast socket re-requests go out on and answers come back to.
#[derive(Debug)]
struct RequestChannel {
    socket: UdpSocket,
    server: SocketAddrV4,
    buf: Vec<u8>,
}

/// The feed could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Session(#[from] moldudp64::ConfigError),
    #[error(transparent)]
    Book(#[from] hotpath_book::ConfigError),
    #[error("request socket for {server}: {source}")]
    RequestSocket {
        server: SocketAddrV4,
        #[source]
        source: std::io::Error,
    },
}

impl<P: BookSink + Stamped> Feed<P> {
    /// Allocates everything: session buffers, books, counters.
    pub fn new(cfg: &FeedConfig, publisher: P) -> Result<Feed<P>, FeedError> {
        let filter = cfg.symbols.as_ref().map(|s| {
            let v: Vec<&str> = s.iter().map(String::as_str).collect();
            SymbolFilter::new(&v)
        });
        Ok(Feed {
            session: Session::new(cfg.session.clone())?,
            core: Core {
                books: Books::try_new(cfg.books)?,
                stats: FeedStats::default(),
                publisher,
                filter,
                last_seq: 0,
            },
            requests: None,
            requests_sent: 0,
            request_errors: 0,
        })
    }

    /// Sends re-requests to `server` from a local unicast socket and takes its answers.
    pub fn with_request_server(mut self, server: SocketAddrV4) -> Result<Self, FeedError> {
        let err = |source| FeedError::RequestSocket { server, source };
        let socket = UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0)).map_err(err)?;
        socket.set_nonblocking(true).map_err(err)?;
        self.requests = Some(RequestChannel {
            socket,
            server,
            buf: vec![0u8; 65_536],
        });
        Ok(self)
    }

    fn act(&mut self, action: Option<Action>) {
        if let (Some(a), Some(ch)) = (action, self.requests.as_mut()) {
            send_request(
                &self.session,
                ch,
                a,
                &mut self.requests_sent,
                &mut self.request_errors,
            );
        }
    }

    /// Handles one UDP payload (a MoldUDP64 packet). The memory its messages will need
    /// (order slots, book records) is requested for the whole packet first, so the
    /// misses overlap instead of queueing one message at a time.
    #[inline]
    pub fn on_packet(&mut self, payload: &[u8], meta: RxMeta) -> Option<Rejected> {
        prefetch_packet(&self.core, payload);
        self.core.publisher.stamp(meta.ts_ns, meta.read_ns);
        let out = self
            .session
            .on_packet(meta.line, payload, meta.read_ns, &mut self.core);
        self.act(out.action);
        out.rejected
    }

    /// Drives the session's timers and reads re-request answers (at most
    /// [`MAX_ANSWERS_PER_POLL`], so a flood of answers cannot hold the cycle); call
    /// every cycle. Returns the number of answers read.
    ///
    /// The answer socket is read only while sequences are missing: with nothing to
    /// recover, a cycle makes no system call (on a DPDK port, none at all). Answers
    /// that come after their gap was filled wait in the socket until the next gap,
    /// and are then counted as duplicates.
    pub fn poll(&mut self, now_ns: u64) -> usize {
        let mut n = 0;
        if self.session.missing() == 0 {
            // Nothing to recover: no answer can be of use.
        } else if let Some(ch) = self.requests.as_mut() {
            while n < MAX_ANSWERS_PER_POLL {
                let Ok((len, _)) = ch.socket.recv_from(&mut ch.buf) else {
                    break;
                };
                self.core.publisher.stamp(now_ns, now_ns);
                let out = self.session.on_packet(
                    Line::Retransmission,
                    &ch.buf[..len],
                    now_ns,
                    &mut self.core,
                );
                if let Some(a) = out.action {
                    send_request(
                        &self.session,
                        ch,
                        a,
                        &mut self.requests_sent,
                        &mut self.request_errors,
                    );
                }
                n += 1;
            }
        }
        let action = self.session.poll(now_ns, &mut self.core);
        self.act(action);
        n
    }

    /// Takes one burst from `src`; returns packets handled, or the source's error
    /// ([`SourceError::End`] at the end of a file).
    pub fn pump(&mut self, src: &mut dyn PacketSource) -> Result<usize, SourceError> {
        let n = src.recv_burst(&mut |p, meta| {
            let _ = self.on_packet(p, meta);
        })?;
        Ok(n)
    }
}

/// Sequences a capture's MoldUDP64 packets in file order without recovery: nothing can
/// be re-requested from a file, so a gap is counted as lost at once and what follows is
/// applied; sequences already applied are duplicates. (Live feeds use [`Session`],
/// which buffers and re-requests.)
#[derive(Debug, Default, Clone)]
pub struct CaptureSequencer {
    session: Option<moldudp64::SessionId>,
    next: Option<u64>,
    pub stats: CaptureStats,
}

/// What [`CaptureSequencer`] saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CaptureStats {
    pub packets: u64,
    pub heartbeats: u64,
    pub end_of_session: bool,
    pub gaps: u64,
    pub messages_lost: u64,
    pub duplicates: u64,
    pub malformed: u64,
    pub other_session: u64,
}

impl CaptureSequencer {
    /// Applies one packet's new messages to `sink`.
    pub fn on_packet<S: moldudp64::Sink + ?Sized>(&mut self, bytes: &[u8], sink: &mut S) {
        let Ok(p) = moldudp64::Packet::new_checked(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        let session = *self.session.get_or_insert(*p.session());
        if p.session() != &session {
            self.stats.other_session += 1;
            return;
        }
        self.stats.packets += 1;
        if p.is_end_of_session() {
            self.stats.end_of_session = true;
        }
        if p.is_heartbeat() {
            self.stats.heartbeats += 1;
        }
        let next = *self.next.get_or_insert(p.sequence());
        if p.sequence() > next {
            self.stats.gaps += 1;
            self.stats.messages_lost += p.sequence() - next;
            sink.lost(next, p.sequence() - next);
            self.next = Some(p.sequence());
        }
        for (seq, msg) in p.sequenced() {
            if seq < self.next.unwrap_or(0) {
                self.stats.duplicates += 1;
                continue;
            }
            sink.message(seq, msg);
            self.next = Some(seq + 1);
        }
    }
}

/// Applies a raw ITCH file (2-byte length prefix per message) to `core`, calling
/// `every` after each message with its 1-based position.
///
/// A software pipeline over batches of `BATCH` (4) messages, `DEPTH` (5) batches deep.
/// Before a batch is applied, the batch after it gets the second prefetch stage (its
/// orders' queue neighbours, read from the slots the first stage loaded) and the
/// batch `DEPTH - 1` ahead is framed and gets the first (order slots and books). So
/// a message's first loads start 16-19 messages before it is applied and its second
/// 4-7 before, as the per-message ring this replaced did (16 and 4), with no ring
/// position or end marker per message: a batch is a filled prefix of fixed arrays
/// (13 fewer instructions per message). Eight-message batches three deep (16-23 and
/// 8-15 ahead) ran 1-8 ns slower. A framing error ends the stream (counted when
/// framed).
pub fn apply_itch_file<'a, P: BookSink + Stamped>(
    core: &mut Core<P>,
    bytes: &'a [u8],
    mut every: impl FnMut(&mut Core<P>, u64),
) {
    let mut frames = LengthPrefixed::new(bytes);
    let mut open = true;
    // Frames up to BATCH messages into `b` and starts their first prefetch stage.
    let mut fill = |core: &mut Core<P>, b: &mut Batch<'a>| {
        b.n = 0;
        while open && b.n < BATCH {
            match frames.next() {
                Some(Ok(m)) => {
                    b.pre[b.n] = core.prefetch(m);
                    b.msgs[b.n] = m;
                    b.n += 1;
                }
                Some(Err(_)) => {
                    core.stats.framing_errors += 1;
                    open = false;
                }
                None => open = false,
            }
        }
    };
    let mut ring: [Batch<'a>; DEPTH] = std::array::from_fn(|_| Batch::new());
    for b in ring.iter_mut().take(DEPTH - 1) {
        fill(core, b);
    }
    ring[0].prefetch_late(core);
    let mut seq = 0u64;
    let mut k = 0usize;
    while ring[k % DEPTH].n > 0 {
        fill(core, &mut ring[(k + DEPTH - 1) % DEPTH]);
        ring[(k + 1) % DEPTH].prefetch_late(core);
        let now = &ring[k % DEPTH];
        for &m in &now.msgs[..now.n] {
            seq += 1;
            core.apply(seq, m);
            every(core, seq);
        }
        k += 1;
    }
}

/// Messages per batch of [`apply_itch_file`]'s pipeline.
const BATCH: usize = 4;
/// Batches in flight: the one applied, the prefetched ones, the one being framed.
const DEPTH: usize = 5;

/// Up to [`BATCH`] framed messages and their first prefetch stage's answers.
struct Batch<'a> {
    msgs: [&'a [u8]; BATCH],
    pre: [Prefetched; BATCH],
    n: usize,
}

impl<'a> Batch<'a> {
    fn new() -> Batch<'a> {
        Batch {
            msgs: [&[]; BATCH],
            pre: [Prefetched::NONE; BATCH],
            n: 0,
        }
    }

    /// The second prefetch stage for every message of the batch.
    #[inline(always)]
    fn prefetch_late<P: BookSink + Stamped>(&self, core: &Core<P>) {
        for (m, p) in self.msgs[..self.n].iter().zip(&self.pre[..self.n]) {
            core.prefetch_late(m, *p);
        }
    }
}
