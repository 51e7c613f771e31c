//! The feed handler's counters in shared memory, for `hotpath stat`.
//!
//! The hot path counts in plain integers inside [`Feed`]; [`FeedCounters::publish`]
//! copies them to the shm counters region (one relaxed store each) once per duty cycle,
//! so operators see live values without the hot path touching shared cache lines per
//! message.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hotpath_shm::counters::{Counter, CounterId, CountersBuilder, Heartbeat};
use hotpath_shm::ShmError;

use crate::handler::{Feed, Stamped};
use crate::itch;
use crate::moldudp64::{Line, MoldErrorKind};
use crate::net::FrameError;
use crate::source::{NicReader, NicStats, RxWait, SourceStats};
use hotpath_book::BookSink;

/// The component name of the feed handler's counters.
pub const COMPONENT: &str = "feed";

macro_rules! feed_counters {
    ($( $field:ident : $kind:ident, $unit:literal; )*) => {
        struct Ids {
            $( $field: CounterId, )*
            nic: [CounterId; 6],
            by_type: Vec<(u8, CounterId)>,
            malformed: Vec<(usize, CounterId)>,
            frames: Vec<CounterId>,
            rx_wait: Vec<CounterId>,
            heartbeat: CounterId,
        }

        /// Live handles to every feed counter.
        pub struct FeedCounters {
            $( $field: Counter, )*
            nic: Option<NicCounters>,
            by_type: Vec<(u8, Counter)>,
            malformed: Vec<(usize, Counter)>,
            frames: Vec<Counter>,
            rx_wait: Vec<Counter>,
            heartbeat: Heartbeat,
        }

        impl FeedCounters {
            /// Registers the feed's counters and creates the region at `path`.
            pub fn create(path: &Path) -> Result<FeedCounters, ShmError> {
                let mut b = CountersBuilder::new();
                let ids = Ids {
                    $( $field: b.$kind(COMPONENT, stringify!($field), $unit)?, )*
                    nic: [
                        b.counter(COMPONENT, "nic_ipackets", "packets")?,
                        b.counter(COMPONENT, "nic_imissed", "packets")?,
                        b.counter(COMPONENT, "nic_ierrors", "packets")?,
                        b.counter(COMPONENT, "nic_rx_nombuf", "packets")?,
                        b.gauge(COMPONENT, "nic_links_down", "ports")?,
                        b.counter(COMPONENT, "nic_link_downs", "events")?,
                    ],
                    by_type: itch::TYPES
                        .iter()
                        .map(|&t| Ok((t, b.counter(COMPONENT, &type_counter_name(t), "messages")?)))
                        .collect::<Result<_, ShmError>>()?,
                    malformed: MoldErrorKind::ALL
                        .iter()
                        .map(|k| Ok((k.index(), b.counter(COMPONENT, &format!("malformed_{}", k.name()), "packets")?)))
                        .collect::<Result<_, ShmError>>()?,
                    frames: FrameError::NAMES
                        .iter()
                        .map(|n| b.counter(COMPONENT, &format!("frames_skipped_{n}"), "frames"))
                        .collect::<Result<_, ShmError>>()?,
                    rx_wait: RxWait::NAMES
                        .iter()
                        .map(|n| b.counter(COMPONENT, &format!("rx_wait_{n}"), "packets"))
                        .collect::<Result<_, ShmError>>()?,
                    heartbeat: b.heartbeat(COMPONENT)?,
                };
                let mut region = b.create(path)?;
                Ok(FeedCounters {
                    $( $field: region.counter(ids.$field), )*
                    nic: Some(NicCounters {
                        ipackets: region.counter(ids.nic[0]),
                        imissed: region.counter(ids.nic[1]),
                        ierrors: region.counter(ids.nic[2]),
                        rx_nombuf: region.counter(ids.nic[3]),
                        links_down: region.counter(ids.nic[4]),
                        link_downs: region.counter(ids.nic[5]),
                    }),
                    by_type: ids.by_type.into_iter().map(|(t, id)| (t, region.counter(id))).collect(),
                    malformed: ids.malformed.into_iter().map(|(k, id)| (k, region.counter(id))).collect(),
                    frames: ids.frames.into_iter().map(|id| region.counter(id)).collect(),
                    rx_wait: ids.rx_wait.into_iter().map(|id| region.counter(id)).collect(),
                    heartbeat: region.heartbeat(ids.heartbeat),
                })
            }
        }
    };
}

feed_counters! {
    packets_a: counter, "packets";
    packets_b: counter, "packets";
    packets_retransmitted: counter, "packets";
    messages: counter, "messages";
    duplicates_a: counter, "messages";
    duplicates_b: counter, "messages";
    packets_first_a: counter, "packets";
    packets_first_b: counter, "packets";
    gaps: counter, "gaps";
    messages_missing: counter, "messages";
    requests_sent: counter, "requests";
    request_timeouts: counter, "requests";
    request_errors: counter, "requests";
    messages_recovered: counter, "messages";
    messages_lost: counter, "messages";
    heartbeats: counter, "packets";
    end_of_session: counter, "packets";
    other_session_packets: counter, "packets";
    buffer_overflows: counter, "messages";
    unknown_type: counter, "messages";
    bad_length: counter, "messages";
    bad_side: counter, "messages";
    filtered: counter, "messages";
    unknown_refs: counter, "messages";
    duplicate_refs: counter, "messages";
    crossed: counter, "events";
    orders_dropped_table_full: counter, "orders";
    levels_exhausted: counter, "levels";
    live_orders: gauge, "orders";
    live_levels: gauge, "levels";
    published: counter, "events";
    skipped_frames: counter, "frames";
    other_destinations: counter, "packets";
    other_sources: counter, "packets";
    truncated_datagrams: counter, "packets";
    socket_drops: counter, "packets";
    rx_wait_max_ns: gauge, "ns";
    igmp_queries: counter, "queries";
    igmp_other_queries: counter, "queries";
    igmp_sent: counter, "frames";
    igmp_send_failures: counter, "frames";
    igmp_malformed: counter, "messages";
    next_sequence: gauge, "";
    first_sequence: gauge, "";
}

/// The port's own counters (`nic_*`, DPDK sources), with a writer of their own so that
/// a thread other than the feed's can publish them ([`FeedCounters::take_nic`]).
pub struct NicCounters {
    ipackets: Counter,
    imissed: Counter,
    ierrors: Counter,
    rx_nombuf: Counter,
    links_down: Counter,
    link_downs: Counter,
}

impl NicCounters {
    /// Copies a port's counters to shared memory.
    pub fn publish(&self, nic: &NicStats) {
        self.ipackets.set(nic.ipackets);
        self.imissed.set(nic.imissed);
        self.ierrors.set(nic.ierrors);
        self.rx_nombuf.set(nic.rx_nombuf);
        self.links_down.set(nic.links_down);
        self.link_downs.set(nic.link_downs);
    }
}

/// Reads a port's counters every `period` on a thread of its own and publishes them, so
/// the feed's loop never reads the port: on a NIC, `rte_eth_stats_get` reads device
/// registers across PCIe, microseconds the polling core would stall for. The thread
/// first moves to the cores in `allowed` other than `hot` (the feed thread's) and to
/// normal scheduling ([`hotpath_hw::discipline::move_helper_off`]), and `spawn` returns
/// only then: make it before the feed's thread takes SCHED_FIFO, which would starve a
/// thread still waiting to run on its core. If the feed's thread has the only core, the
/// two share it (under SCHED_FIFO the reads then run in the kernel's real-time
/// throttling slack). Dropping it makes a last read, publishes it and joins the thread,
/// so the final counters are exact. `on_links` is called on that thread with each read
/// whose count of links down differs from the read before (the first read counts as a
/// change when a link is down): the place to tell the operator.
pub struct NicPublisher {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl NicPublisher {
    pub fn spawn(
        read: NicReader,
        counters: NicCounters,
        period: Duration,
        hot: Vec<usize>,
        allowed: Vec<usize>,
        on_links: impl Fn(&NicStats) + Send + 'static,
    ) -> std::io::Result<NicPublisher> {
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let (moved_tx, moved) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("hp-nic-stats".into())
            // Small: under `--mlock` (MCL_FUTURE) its whole stack is locked.
            .stack_size(256 << 10)
            .spawn(move || {
                // Best effort: sharing the core costs jitter, not correctness.
                let _ = hotpath_hw::discipline::move_helper_off(&hot, &allowed);
                let _ = moved_tx.send(());
                let mut links_down = 0;
                loop {
                    // Read before looking at the flag: the last pass after a stop is
                    // the final read.
                    let nic = read();
                    counters.publish(&nic);
                    if nic.links_down != links_down {
                        links_down = nic.links_down;
                        on_links(&nic);
                    }
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::park_timeout(period);
                }
            })?;
        let publisher = NicPublisher {
            done,
            thread: Some(thread),
        };
        moved.recv().map_err(|_| {
            std::io::Error::other("the NIC counters thread ended before it started")
        })?;
        Ok(publisher)
    }
}

impl Drop for NicPublisher {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// `A` -> `msg_add_order`, `h` -> `msg_operational_halt`: one counter per ITCH type.
pub fn type_counter_name(t: u8) -> String {
    let name = itch::type_name(t).unwrap_or("unknown");
    let mut out = String::from("msg_");
    let mut last_us = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            last_us = false;
        } else if !last_us {
            out.push('_');
            last_us = true;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

impl FeedCounters {
    /// Copies the feed's (and its source's) counts to shared memory and beats.
    pub fn publish<P: BookSink + Stamped>(
        &self,
        feed: &Feed<P>,
        source: &SourceStats,
        now_ns: u64,
    ) {
        let s = feed.session.stats();
        let f = &feed.core.stats;
        let b = feed.core.books.stats();
        self.packets_a.set(s.packets[Line::A.index()]);
        self.packets_b.set(s.packets[Line::B.index()]);
        self.packets_retransmitted
            .set(s.packets[Line::Retransmission.index()]);
        self.messages.set(f.messages);
        self.duplicates_a.set(s.duplicates[Line::A.index()]);
        self.duplicates_b.set(s.duplicates[Line::B.index()]);
        self.packets_first_a.set(s.packets_first[Line::A.index()]);
        self.packets_first_b.set(s.packets_first[Line::B.index()]);
        self.gaps.set(s.gaps_detected);
        self.messages_missing.set(s.messages_missing);
        self.requests_sent.set(feed.requests_sent);
        self.request_timeouts.set(s.request_timeouts);
        self.request_errors.set(feed.request_errors);
        self.messages_recovered.set(s.messages_recovered_total());
        self.messages_lost.set(s.messages_lost);
        self.heartbeats.set(s.heartbeats);
        self.end_of_session.set(s.end_of_session);
        self.other_session_packets.set(s.other_session_packets);
        self.buffer_overflows.set(s.buffer_overflows);
        self.unknown_type.set(f.unknown_type);
        self.bad_length.set(f.bad_length);
        self.bad_side.set(f.bad_side);
        self.filtered.set(f.filtered);
        self.unknown_refs.set(b.unknown_refs);
        self.duplicate_refs.set(b.duplicate_refs);
        self.crossed.set(b.crossed);
        self.orders_dropped_table_full
            .set(b.orders_dropped_table_full);
        self.levels_exhausted.set(b.levels_exhausted);
        self.live_orders.set(b.live_orders);
        self.live_levels.set(b.live_levels);
        self.published.set(feed.core.publisher.published());
        self.skipped_frames
            .set(source.skipped_frames + source.bad_records);
        self.other_destinations.set(source.other_destinations);
        self.other_sources.set(source.other_sources);
        self.truncated_datagrams.set(source.truncated);
        self.igmp_queries.set(source.igmp.queries);
        self.igmp_other_queries.set(source.igmp.other_queries);
        self.igmp_sent.set(source.igmp.sent);
        self.igmp_send_failures.set(source.igmp.send_failures);
        self.igmp_malformed.set(source.igmp.malformed);
        self.next_sequence.set(feed.session.next_sequence());
        self.first_sequence
            .set(feed.session.first_sequence().unwrap_or(0));
        for (t, c) in &self.by_type {
            c.set(f.by_type[*t as usize]);
        }
        for (k, c) in &self.malformed {
            c.set(s.malformed[*k]);
        }
        for (c, v) in self.frames.iter().zip(source.skipped_by_reason) {
            c.set(v);
        }
        self.socket_drops.set(source.socket_drops);
        self.rx_wait_max_ns.set(source.rx_wait.max_ns);
        for (c, v) in self.rx_wait.iter().zip(source.rx_wait.buckets) {
            c.set(v);
        }
        self.heartbeat.beat_at(now_ns);
    }

    /// The writer of the `nic_*` counters, to move to the thread that reads the port
    /// (once; `None` after).
    pub fn take_nic(&mut self) -> Option<NicCounters> {
        self.nic.take()
    }

    /// Beats without publishing (idle cycles).
    pub fn beat(&self, now_ns: u64) {
        self.heartbeat.beat_at(now_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn type_counter_names_are_distinct_valid_names() {
        let names: Vec<String> = itch::TYPES.iter().map(|&t| type_counter_name(t)).collect();
        for n in &names {
            hotpath_shm::counters::check_name("counter", n, 55).unwrap();
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 23, "{names:?}");
        assert_eq!(type_counter_name(b'A'), "msg_add_order");
    }

    /// A port whose counters are `port`'s value (and multiples), read off the feed's
    /// thread; `reads` counts the reads.
    fn fake_port(port: &Arc<AtomicU64>, reads: &Arc<AtomicU64>) -> NicReader {
        let (port, reads) = (Arc::clone(port), Arc::clone(reads));
        let feed_thread = std::thread::current().id();
        Box::new(move || {
            assert_ne!(std::thread::current().id(), feed_thread);
            reads.fetch_add(1, Ordering::SeqCst);
            let n = port.load(Ordering::SeqCst);
            NicStats {
                ipackets: n,
                imissed: 2 * n,
                ierrors: 3 * n,
                rx_nombuf: 4 * n,
                ports: 2,
                links_down: n % 3,
                link_downs: 5 * n,
            }
        })
    }

    /// A fake port behind a publisher, and what came out.
    struct Fake {
        /// The port's value: its counters are this and multiples.
        port: Arc<AtomicU64>,
        /// Reads of the port.
        reads: Arc<AtomicU64>,
        /// `links_down` at each call of `on_links`.
        told: Arc<std::sync::Mutex<Vec<u64>>>,
        publisher: Option<NicPublisher>,
        view: hotpath_shm::counters::CountersReader,
        _dir: tempfile::TempDir,
    }

    /// A fake port starting at `first` behind a publisher with `period`.
    fn published(first: u64, period: Duration) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.counters");
        let mut counters = FeedCounters::create(&path).unwrap();
        let nic = counters.take_nic().expect("the nic counters, once");
        assert!(counters.take_nic().is_none());
        let (port, reads) = (Arc::new(AtomicU64::new(first)), Arc::new(AtomicU64::new(0)));
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        let cores = hotpath_hw::discipline::current_thread_affinity().unwrap();
        let to = Arc::clone(&told);
        let publisher = NicPublisher::spawn(
            fake_port(&port, &reads),
            nic,
            period,
            vec![],
            cores,
            move |nic| to.lock().unwrap().push(nic.links_down),
        )
        .unwrap();
        let view = hotpath_shm::counters::CountersReader::open(&path).unwrap();
        Fake {
            port,
            reads,
            told,
            publisher: Some(publisher),
            view,
            _dir: dir,
        }
    }

    /// Waits until the published `nic_ipackets` is `n`.
    fn until_published(view: &hotpath_shm::counters::CountersReader, n: u64) {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while view.get(COMPONENT, "nic_ipackets") != Some(n) {
            assert!(std::time::Instant::now() < end, "{n} never published");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn the_nic_counters_are_published_from_their_own_thread_and_read_once_more_at_the_end() {
        // A period longer than the test: one read at the start, one at the stop.
        let mut f = published(1, Duration::from_secs(600));
        until_published(&f.view, 1);
        f.port.store(1000, Ordering::SeqCst);
        drop(f.publisher.take()); // wakes the thread at once, or this test would take 600 s
        assert_eq!(
            f.reads.load(Ordering::SeqCst),
            2,
            "a read at the start and at the stop"
        );
        let names = [
            "nic_ipackets",
            "nic_imissed",
            "nic_ierrors",
            "nic_rx_nombuf",
            "nic_links_down",
            "nic_link_downs",
        ];
        assert_eq!(
            names.map(|n| f.view.get(COMPONENT, n).unwrap()),
            [1000, 2000, 3000, 4000, 1, 5000],
            "the port as it was at the stop"
        );
    }

    #[test]
    fn the_nic_counters_are_read_every_period_while_the_feed_runs() {
        let f = published(0, Duration::from_millis(2));
        // The port moves; the published counter follows without the feed doing anything.
        for n in [5, 50, 500] {
            f.port.store(n, Ordering::SeqCst);
            until_published(&f.view, n);
        }
        assert!(f.reads.load(Ordering::SeqCst) >= 3);
    }

    #[test]
    fn the_operator_is_told_each_time_the_links_down_change_and_only_then() {
        // links_down is the port's value mod 3: 0 at the start (nothing to tell).
        let mut f = published(0, Duration::from_millis(1));
        for n in [3, 4, 7, 8, 9] {
            f.port.store(n, Ordering::SeqCst);
            until_published(&f.view, n);
        }
        drop(f.publisher.take()); // joins: every call made is in `told`
                                  // 3 -> 0 (same as before), 4 -> 1, 7 -> 1 (same), 8 -> 2, 9 -> 0.
        assert_eq!(*f.told.lock().unwrap(), [1, 2, 0]);
    }
}
