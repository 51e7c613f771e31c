//! The feed benchmark (`hotpath bench feed`): on one generated day-like ITCH stream,
//! in one run,
//!
//! - decode only: hotpath's zero-copy ITCH decoder and the `itchy` crate over the same
//!   bytes, each reading the same fields (a checksum both must agree on);
//! - decode + book: every message decoded and applied to the L3 books (no publishing):
//!   mean ns/message, and the distribution of per-message latency (each message timed
//!   with the TSC; the timer's own cost is measured and reported);
//! - end to end: the same stream as a MoldUDP64 pcap, replayed from memory through the
//!   packet source, the session, the decoder and the books, publishing market data on
//!   a shm broadcast ring.
//!
//! Each timed pass runs `rounds` times, alternating hotpath and itchy; medians are
//! reported (the machine is shared and noisy).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hotpath_book::{BookConfig, NullSink};
use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
use hotpath_feed::handler::{apply_itch_file, Feed, FeedConfig, ShmPublisher};
use hotpath_feed::itch::{parse, LengthPrefixed, Message};
use hotpath_feed::source::pcap::{Pace, PcapSource};
use hotpath_feed::source::{Lines, SourceError};
use hotpath_hw::tsc::{rdtsc, Tsc};
use hotpath_shm::md::MdEvent;
use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::median;
use crate::memprobe::{self, MemProbe};

/// What to run.
#[derive(Debug, Clone)]
pub struct FeedBenchConfig {
    pub messages: u64,
    pub seed: u64,
    pub symbols: u16,
    pub rounds: u32,
    /// Directory for the market-data ring of the end-to-end pass.
    pub shm_dir: PathBuf,
    /// Region of the memory probe, MiB (see [`memprobe`]).
    pub probe_mib: usize,
}

impl Default for FeedBenchConfig {
    fn default() -> Self {
        FeedBenchConfig {
            messages: 50_000_000,
            seed: 1,
            symbols: 100,
            rounds: 3,
            shm_dir: crate::ring::default_shm_dir(),
            probe_mib: 256,
        }
    }
}

/// The report (flat, for `--json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedReport {
    pub messages: u64,
    pub bytes: u64,
    pub symbols: u16,
    pub seed: u64,
    pub rounds: u32,
    pub peak_live_orders: u64,
    pub decode_ns_per_msg: f64,
    pub itchy_decode_ns_per_msg: f64,
    pub decode_speedup_vs_itchy: f64,
    /// Each round's decode figures, in round order (the headline is their median).
    /// The VMs here have slow spells that can cover one round and not the next.
    pub decode_ns_rounds: Vec<f64>,
    pub itchy_decode_ns_rounds: Vec<f64>,
    pub book_ns_per_msg: f64,
    /// Each round's decode + book mean, in round order (the headline is their median).
    pub book_ns_rounds: Vec<f64>,
    pub book_ns_p50: u64,
    pub book_ns_p99: u64,
    pub book_ns_p999: u64,
    pub book_ns_max: u64,
    /// Cost of the two TSC reads around each timed message (included in the percentiles).
    pub timer_overhead_ns: u64,
    /// Share of the order table's whole 2 MiB pages the kernel backed with huge pages
    /// when the decode + book passes started, percent (None: unknown). Below 100 the
    /// kernel fell back to 4 KiB pages for part of it (fragmented memory), and misses
    /// there cost about twice as much.
    pub table_huge_pages_pct: Option<f64>,
    /// The per-message pass split by message type, most time first.
    pub book_by_type: Vec<TypeCost>,
    pub replay_msgs_per_s: f64,
    pub replay_packets: u64,
    pub replay_events_published: u64,
    pub target_decode_2x_itchy: bool,
    pub target_book_mean_le_50ns: bool,
    pub generate_seconds: f64,
    /// Random loads over `probe_mib` MiB (256 by default, the order table's size)
    /// measured just before the passes: what a miss cost during this run.
    pub memory: MemProbe,
    pub machine: Machine,
}

/// One message type's share of the per-message (TSC) pass. A message's time is the
/// gap between the TSC reads after it and after the one before, so it includes
/// whatever of its neighbours' work overlapped it; the split says where the time
/// goes by type, not what a type costs in isolation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TypeCost {
    /// The ITCH type byte, as a one-character string.
    pub msg_type: String,
    pub messages: u64,
    pub mean_ns: f64,
    /// Share of the pass's time, percent.
    pub time_pct: f64,
}

/// Splits per-message TSC ticks by type: `ticks[t]` and `counts[t]` for type byte `t`.
fn by_type(ticks: &[u64; 256], counts: &[u64; 256], tsc: &Tsc) -> Vec<TypeCost> {
    let total: u64 = ticks.iter().sum();
    let mut v: Vec<TypeCost> = (0..256)
        .filter(|&t| counts[t] > 0)
        .map(|t| TypeCost {
            msg_type: char::from(t as u8).to_string(),
            messages: counts[t],
            mean_ns: tsc.to_ns(ticks[t]) as f64 / counts[t] as f64,
            time_pct: 100.0 * ticks[t] as f64 / total.max(1) as f64,
        })
        .collect();
    v.sort_by(|a, b| b.time_pct.total_cmp(&a.time_pct));
    v
}

/// Reads the fields a consumer would, so no decoder can skip work: the same sum for
/// both decoders.
pub fn hotpath_checksum(buf: &[u8]) -> u64 {
    let mut sum = 0u64;
    for framed in LengthPrefixed::new(buf) {
        let Ok(bytes) = framed else {
            sum = sum.wrapping_add(1);
            break;
        };
        sum = sum.wrapping_add(message_checksum(bytes));
    }
    sum
}

/// One ITCH message's contribution to [`hotpath_checksum`] (also the per-message work
/// of `bench sources`): the order reference, shares and price of the order messages,
/// the timestamp of the rest, 1 for a malformed message.
#[inline(always)]
pub fn message_checksum(bytes: &[u8]) -> u64 {
    match parse(bytes) {
        Ok(Message::AddOrder(m)) => m.order_ref() ^ u64::from(m.shares()) ^ u64::from(m.price()),
        Ok(Message::AddOrderMpid(m)) => {
            m.order_ref() ^ u64::from(m.shares()) ^ u64::from(m.price())
        }
        Ok(Message::OrderExecuted(m)) => m.order_ref() ^ u64::from(m.executed_shares()),
        Ok(Message::OrderExecutedWithPrice(m)) => {
            m.order_ref() ^ u64::from(m.executed_shares()) ^ u64::from(m.execution_price())
        }
        Ok(Message::OrderCancel(m)) => m.order_ref() ^ u64::from(m.cancelled_shares()),
        Ok(Message::OrderDelete(m)) => m.order_ref(),
        Ok(Message::OrderReplace(m)) => {
            m.original_order_ref()
                ^ m.new_order_ref()
                ^ u64::from(m.shares())
                ^ u64::from(m.price())
        }
        Ok(Message::NonCrossTrade(m)) => u64::from(m.shares()) ^ u64::from(m.price()),
        Ok(other) => other.timestamp(),
        Err(_) => 1,
    }
}

/// The same fields through `itchy`.
pub fn itchy_checksum(buf: &[u8]) -> u64 {
    use itchy::Body;
    let mut sum = 0u64;
    for msg in itchy::MessageStream::from_reader(buf) {
        let Ok(m) = msg else {
            sum = sum.wrapping_add(1);
            continue;
        };
        let v = match &m.body {
            Body::AddOrder(a) => a.reference ^ u64::from(a.shares) ^ u64::from(a.price.raw()),
            Body::OrderExecuted {
                reference,
                executed,
                ..
            } => reference ^ u64::from(*executed),
            Body::OrderExecutedWithPrice {
                reference,
                executed,
                price,
                ..
            } => reference ^ u64::from(*executed) ^ u64::from(price.raw()),
            Body::OrderCancelled {
                reference,
                cancelled,
            } => reference ^ u64::from(*cancelled),
            Body::DeleteOrder { reference } => *reference,
            Body::ReplaceOrder(r) => {
                r.old_reference ^ r.new_reference ^ u64::from(r.shares) ^ u64::from(r.price.raw())
            }
            Body::NonCrossTrade(t) => u64::from(t.shares) ^ u64::from(t.price.raw()),
            _ => m.timestamp,
        };
        sum = sum.wrapping_add(v);
    }
    sum
}

/// Generates the raw ITCH stream in memory; returns it and the peak live order count.
pub fn generate(
    cfg: &FeedBenchConfig,
    mut progress: impl FnMut(u64),
) -> Result<(Vec<u8>, u64), String> {
    let mut g = Generator::new(GenConfig {
        messages: cfg.messages,
        seed: cfg.seed,
        symbols: cfg.symbols,
        live_target: None,
    })
    .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(cfg.messages as usize * 34);
    let mut peak = 0u64;
    let mut n = 0u64;
    while let Some((ts, ev)) = g.next() {
        gen::to_fields(ts, &ev).append_framed(&mut buf);
        n += 1;
        if n.is_multiple_of(65_536) {
            peak = peak.max(g.live_orders() as u64);
            progress(n);
        }
    }
    Ok((buf, peak.max(g.live_orders() as u64)))
}

/// Runs every pass on a stream already generated.
pub fn run_on(
    cfg: &FeedBenchConfig,
    raw: &[u8],
    peak_live_orders: u64,
    generate_seconds: f64,
    mut status: impl FnMut(&str),
) -> Result<FeedReport, String> {
    if cfg.rounds == 0 {
        return Err("rounds must be at least 1".into());
    }
    let n = LengthPrefixed::new(raw).count() as u64;
    if n == 0 {
        return Err("empty stream".into());
    }
    status(&format!(
        "memory: timing random loads over {} MiB",
        cfg.probe_mib
    ));
    let memory = memprobe::probe(cfg.probe_mib, 2_000_000);
    status("decode: checking both decoders agree");
    let (h, i) = (hotpath_checksum(raw), itchy_checksum(raw));
    if h != i {
        return Err(format!("decoders disagree: hotpath {h:#x}, itchy {i:#x}"));
    }
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 0..cfg.rounds {
        status(&format!("decode: round {}/{}", r + 1, cfg.rounds));
        let t = Instant::now();
        std::hint::black_box(hotpath_checksum(std::hint::black_box(raw)));
        ours.push(t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        std::hint::black_box(itchy_checksum(std::hint::black_box(raw)));
        theirs.push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    let (decode, itchy) = (median(&ours), median(&theirs));

    // Decode + book, untimed per message: the mean.
    let fcfg = FeedConfig {
        books: BookConfig::default(),
        ..FeedConfig::default()
    };
    let mut feed = Feed::new(&fcfg, NullSink).map_err(|e| e.to_string())?;
    let (table_at, table_len) = feed.core.books.memory_regions()[0];
    let table_huge_pages_pct = hotpath_hw::mem::huge_page_coverage_at(table_at, table_len);
    let mut means = Vec::new();
    for r in 0..cfg.rounds {
        status(&format!("decode+book: round {}/{}", r + 1, cfg.rounds));
        feed.core.books.reset();
        feed.core.stats = Default::default();
        let t = Instant::now();
        apply_itch_file(&mut feed.core, raw, |_, _| {});
        means.push(t.elapsed().as_nanos() as f64 / n as f64);
        let s = feed.core.books.stats();
        if s.unknown_refs != 0 || s.crossed != 0 || s.orders_dropped_table_full != 0 {
            return Err(format!("the books saw anomalies on a clean stream: {s:?}"));
        }
    }
    let book_mean = median(&means);

    // Decode + book, each message timed with the TSC.
    status("decode+book: per-message latency");
    let tsc = Tsc::calibrate(Duration::from_millis(50));
    let overhead = {
        let mut v: Vec<u64> = (0..10_001)
            .map(|_| {
                let a = rdtsc();
                let b = rdtsc();
                tsc.to_ns(b - a)
            })
            .collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?;
    feed.core.books.reset();
    // Each message's type, by position, for the split by type.
    let types: Vec<u8> = LengthPrefixed::new(raw)
        .map_while(Result::ok)
        .map(|m| m.first().copied().unwrap_or(0))
        .collect();
    let (mut ticks, mut counts) = ([0u64; 256], [0u64; 256]);
    // The same loop as the mean's (prefetching ahead); each message's time is the gap
    // between the TSC reads after it and after the one before.
    let mut prev = rdtsc();
    apply_itch_file(&mut feed.core, raw, |_, seq| {
        let now = rdtsc();
        let d = now.saturating_sub(prev);
        hist.saturating_record(tsc.to_ns(d).max(1));
        let ty = usize::from(types.get(seq as usize - 1).copied().unwrap_or(0));
        ticks[ty] += d;
        counts[ty] += 1;
        prev = now;
    });
    let book_by_type = by_type(&ticks, &counts, &tsc);

    // End to end from a pcap in memory, publishing on a shm ring.
    status("end to end: packing the stream into a MoldUDP64 pcap");
    let mut pcap = Vec::with_capacity(raw.len() + raw.len() / 8);
    let (_, packets) = gen::itch_to_pcap(raw, &mut pcap, &PcapOptions::default(), |_| {})
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&cfg.shm_dir).map_err(|e| format!("{}: {e}", cfg.shm_dir.display()))?;
    let ring_path = cfg.shm_dir.join(format!("bench-md-{}", std::process::id()));
    let mut rates = Vec::new();
    let mut published = 0;
    for r in 0..cfg.rounds {
        status(&format!("end to end: round {}/{}", r + 1, cfg.rounds));
        let ring = hotpath_shm::broadcast::create::<MdEvent>(&ring_path, 1 << 20)
            .map_err(|e| e.to_string())?;
        let mut feed =
            Feed::new(&fcfg, ShmPublisher::new(ring, true)).map_err(|e| e.to_string())?;
        let mut src =
            PcapSource::from_bytes(&ring_path, pcap.clone(), Lines::default(), Pace::AsFast)
                .map_err(|e| e.to_string())?;
        let t = Instant::now();
        loop {
            match feed.pump(&mut src) {
                Ok(_) => {}
                Err(SourceError::End) => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        let secs = t.elapsed().as_secs_f64();
        if feed.core.stats.messages != n {
            return Err(format!(
                "end to end delivered {} of {n} messages",
                feed.core.stats.messages
            ));
        }
        published = feed.core.publisher.published();
        rates.push(n as f64 / secs);
        drop(feed);
        let _ = std::fs::remove_file(&ring_path);
    }
    let _ = std::fs::remove_dir(&cfg.shm_dir);

    Ok(FeedReport {
        messages: n,
        bytes: raw.len() as u64,
        symbols: cfg.symbols,
        seed: cfg.seed,
        rounds: cfg.rounds,
        peak_live_orders,
        decode_ns_per_msg: decode,
        itchy_decode_ns_per_msg: itchy,
        decode_speedup_vs_itchy: itchy / decode,
        decode_ns_rounds: ours,
        itchy_decode_ns_rounds: theirs,
        book_ns_per_msg: book_mean,
        book_ns_rounds: means,
        book_ns_p50: hist.value_at_quantile(0.5),
        book_ns_p99: hist.value_at_quantile(0.99),
        book_ns_p999: hist.value_at_quantile(0.999),
        book_ns_max: hist.max(),
        timer_overhead_ns: overhead,
        table_huge_pages_pct,
        book_by_type,
        replay_msgs_per_s: median(&rates),
        replay_packets: packets,
        replay_events_published: published,
        target_decode_2x_itchy: itchy >= 2.0 * decode,
        target_book_mean_le_50ns: book_mean <= 50.0,
        generate_seconds,
        memory,
        machine: Machine::detect(),
    })
}

/// Generates the stream and runs every pass.
pub fn run(cfg: &FeedBenchConfig, mut status: impl FnMut(&str)) -> Result<FeedReport, String> {
    status(&format!("generating {} messages", cfg.messages));
    let t = Instant::now();
    let (raw, peak) = generate(cfg, |_| {})?;
    let secs = t.elapsed().as_secs_f64();
    run_on(cfg, &raw, peak, secs, status)
}

/// The human-readable report.
pub fn print_table(r: &FeedReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use crate::fmt::thousands;
    writeln!(out, "feed benchmark: {} generated messages ({} bytes, {} symbols, seed {}, peak {} live orders)",
        thousands(r.messages), thousands(r.bytes), r.symbols, r.seed, thousands(r.peak_live_orders))?;
    writeln!(out, "machine: {}", r.machine.summary())?;
    writeln!(
        out,
        "memory now: a random load over {} MiB takes {:.0} ns alone, {:.1} ns with 8 in flight",
        r.memory.region_mib, r.memory.dependent_load_ns, r.memory.parallel8_load_ns
    )?;
    if let Some(pct) = r.table_huge_pages_pct {
        writeln!(
            out,
            "order table on 2 MiB pages: {pct:.0}% (below 100, misses cost more on the rest)"
        )?;
    }
    writeln!(
        out,
        "\ndecode only, ns/message (median of {} rounds)",
        r.rounds
    )?;
    writeln!(
        out,
        "  hotpath                 {:>8.2}   (rounds {})",
        r.decode_ns_per_msg,
        rounds(&r.decode_ns_rounds)
    )?;
    writeln!(
        out,
        "  itchy                   {:>8.2}   ({:.1}x slower; target >= 2x: {}; rounds {})",
        r.itchy_decode_ns_per_msg,
        r.decode_speedup_vs_itchy,
        met(r.target_decode_2x_itchy),
        rounds(&r.itchy_decode_ns_rounds)
    )?;
    writeln!(
        out,
        "\ndecode + L3 book, ns/message (mean: median of the rounds)"
    )?;
    writeln!(
        out,
        "  mean                    {:>8.2}   (target <= 50: {}; rounds {})",
        r.book_ns_per_msg,
        met(r.target_book_mean_le_50ns),
        rounds(&r.book_ns_rounds)
    )?;
    writeln!(
        out,
        "  per message (TSC, incl. {} ns timer): p50 {}  p99 {}  p99.9 {}  max {}",
        r.timer_overhead_ns,
        r.book_ns_p50,
        r.book_ns_p99,
        r.book_ns_p999,
        thousands(r.book_ns_max)
    )?;
    writeln!(
        out,
        "  by type (a message's time includes what of its neighbours' work overlaps it):"
    )?;
    for t in &r.book_by_type {
        writeln!(
            out,
            "    {}  {:>5.1}% of messages  {:>7.1} ns mean  {:>5.1}% of the time",
            t.msg_type,
            100.0 * t.messages as f64 / r.messages.max(1) as f64,
            t.mean_ns,
            t.time_pct
        )?;
    }
    writeln!(
        out,
        "\nend to end (pcap in memory -> MoldUDP64 -> decode -> books -> shm ring)"
    )?;
    writeln!(
        out,
        "  {} messages/s ({} packets, {} events published)",
        thousands(r.replay_msgs_per_s as u64),
        thousands(r.replay_packets),
        thousands(r.replay_events_published)
    )?;
    Ok(())
}

/// Per-round figures for the table: `46.1 / 47.9 / 45.8`.
fn rounds(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.1}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn met(b: bool) -> &'static str {
    if b {
        "met"
    } else {
        "NOT met"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_reports_every_pass() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FeedBenchConfig {
            messages: 200_000,
            rounds: 1,
            shm_dir: dir.path().join("shm"),
            probe_mib: 8,
            ..FeedBenchConfig::default()
        };
        let r = run(&cfg, |_| {}).unwrap();
        assert_eq!(r.messages, 200_000);
        assert!(r.decode_ns_per_msg > 0.0 && r.itchy_decode_ns_per_msg > 0.0);
        assert!(r.book_ns_per_msg > 0.0 && r.book_ns_p50 <= r.book_ns_p999);
        assert!(r.replay_events_published > 0 && r.replay_packets > 0);
        assert_eq!(r.memory.region_mib, 8);
        for ns in [r.memory.dependent_load_ns, r.memory.parallel8_load_ns] {
            assert!(ns > 0.0 && ns.is_finite(), "{:?}", r.memory);
        }
        let json = serde_json::to_value(&r).unwrap();
        for key in [
            "decode_ns_per_msg",
            "itchy_decode_ns_per_msg",
            "book_ns_per_msg",
            "book_ns_rounds",
            "decode_ns_rounds",
            "itchy_decode_ns_rounds",
            "book_ns_p99",
            "replay_msgs_per_s",
            "memory",
        ] {
            assert!(json.get(key).is_some(), "{key} missing");
        }
        let mut table = Vec::new();
        print_table(&r, &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("memory now"), "{table}");
        // One figure per round, the headline their median.
        assert_eq!(r.book_ns_rounds.len(), 1);
        assert_eq!(r.book_ns_rounds[0], r.book_ns_per_msg);
        assert_eq!(r.decode_ns_rounds, vec![r.decode_ns_per_msg]);
        assert_eq!(r.itchy_decode_ns_rounds, vec![r.itchy_decode_ns_per_msg]);
        assert!(table.contains("rounds "), "{table}");
        // The split by type covers every message, adds and deletes lead, and the
        // time shares add up.
        let by_type = &r.book_by_type;
        assert_eq!(by_type.iter().map(|t| t.messages).sum::<u64>(), r.messages);
        let top: Vec<&str> = by_type
            .iter()
            .take(2)
            .map(|t| t.msg_type.as_str())
            .collect();
        assert!(top.contains(&"A") && top.contains(&"D"), "{by_type:?}");
        let pct: f64 = by_type.iter().map(|t| t.time_pct).sum();
        assert!((pct - 100.0).abs() < 1e-6, "{pct}");
        assert!(by_type.iter().all(|t| t.mean_ns > 0.0), "{by_type:?}");
        assert!(table.contains("% of the time"), "{table}");
        assert!(json["book_by_type"][0]["msg_type"].is_string(), "{json}");
        let pct = r
            .table_huge_pages_pct
            .expect("the table's coverage was read");
        assert!((0.0..=100.0).contains(&pct), "{pct}");
        assert!(table.contains("order table on 2 MiB pages"), "{table}");
    }
}
