//! The generator's stream, checked by the things that consume it: the books never see
//! an unknown reference or a crossed book, adds land where the published statistics
//! say, and the pcap form carries exactly the raw form's messages (checked by our
//! replay and by tshark's MoldUDP64 dissector).

use std::collections::HashMap;
use std::process::Command;

use hotpath_book::{BookConfig, Books, NullSink, Side};
use hotpath_feed::gen::{self, Event, GenConfig, Generator, PcapOptions};
use hotpath_feed::handler::{apply_itch_file, Feed, FeedConfig};
use hotpath_feed::itch::LengthPrefixed;
use hotpath_feed::source::pcap::{Pace, PcapSource};
use hotpath_feed::source::{Lines, SourceError};

fn small_books() -> BookConfig {
    BookConfig {
        order_capacity: 1 << 18,
        max_levels: 1 << 18,
        ..BookConfig::default()
    }
}

#[test]
fn books_never_see_an_unknown_reference_and_adds_land_near_the_top() {
    let g = Generator::new(GenConfig {
        messages: 600_000,
        seed: 11,
        symbols: 40,
        live_target: Some(30_000),
    })
    .unwrap();
    let mut books = Books::new(small_books());
    let (mut adds, mut at_best, mut within3) = (0u64, 0u64, 0u64);
    let mut types: HashMap<u8, u64> = HashMap::new();
    for (ts, ev) in g {
        *types.entry(ev.msg_type()).or_default() += 1;
        match ev {
            Event::Add {
                locate,
                order_ref,
                side,
                shares,
                price,
                ..
            } => {
                // Which level (0 = best) does the price land on, before it is added?
                let better = books
                    .depth(locate, side)
                    .take_while(|l| match side {
                        Side::Buy => l.price > price,
                        Side::Sell => l.price < price,
                    })
                    .count();
                adds += 1;
                at_best += u64::from(better == 0);
                within3 += u64::from(better < 3);
                books.add(locate, order_ref, side, shares, price, ts, &mut NullSink);
            }
            Event::Executed {
                locate,
                order_ref,
                shares,
                ..
            } => books.execute(locate, order_ref, shares, ts, &mut NullSink),
            Event::ExecutedWithPrice {
                locate,
                order_ref,
                shares,
                price,
                ..
            } => books.execute_with_price(locate, order_ref, shares, price, ts, &mut NullSink),
            Event::Cancel {
                locate,
                order_ref,
                shares,
            } => books.cancel(locate, order_ref, shares, ts, &mut NullSink),
            Event::Delete { locate, order_ref } => {
                books.delete(locate, order_ref, ts, &mut NullSink)
            }
            Event::Replace {
                locate,
                old_ref,
                new_ref,
                shares,
                price,
            } => books.replace(locate, old_ref, new_ref, shares, price, ts, &mut NullSink),
            Event::Directory { locate, stock, .. } => books.stock_directory(locate, stock),
            _ => {}
        }
    }
    let s = books.stats();
    assert_eq!(s.unknown_refs, 0, "{s:?}");
    assert_eq!(s.duplicate_refs, 0);
    assert_eq!(s.crossed, 0, "the generator never crosses a book");
    assert_eq!(s.executions_clamped + s.cancels_clamped, 0);
    let best = at_best as f64 / adds as f64;
    let top3 = within3 as f64 / adds as f64;
    // Published: about half of updates at the best level, ~92% within three levels.
    assert!(
        (0.40..0.65).contains(&best),
        "{best} of adds at the best level"
    );
    assert!(
        (0.85..0.97).contains(&top3),
        "{top3} of adds within three levels"
    );
    assert!(types[&b'U'] > 0 && types[&b'E'] > 0 && types[&b'X'] > 0);
}

#[test]
fn the_pcap_carries_the_raw_stream_and_replays_to_the_same_books() {
    let cfg = GenConfig {
        messages: 150_000,
        seed: 5,
        symbols: 25,
        live_target: None,
    };
    let mut raw = Vec::new();
    gen::write_itch(Generator::new(cfg.clone()).unwrap(), &mut raw, |_| {}).unwrap();
    let mut pcap = Vec::new();
    let (msgs, packets) = gen::write_pcap(
        Generator::new(cfg.clone()).unwrap(),
        &mut pcap,
        &PcapOptions::default(),
        |_| {},
    )
    .unwrap();
    assert_eq!(msgs, 150_000);
    // itch_to_pcap gives the same capture from the raw bytes.
    let mut pcap2 = Vec::new();
    gen::itch_to_pcap(&raw, &mut pcap2, &PcapOptions::default(), |_| {}).unwrap();
    assert_eq!(pcap, pcap2);

    // Raw file through the core.
    let fcfg = FeedConfig {
        books: small_books(),
        ..FeedConfig::default()
    };
    let mut a = Feed::new(&fcfg, NullSink).unwrap();
    apply_itch_file(&mut a.core, &raw, |_, _| {});
    // Pcap through source + session + core.
    let mut b = Feed::new(&fcfg, NullSink).unwrap();
    let mut src = PcapSource::from_bytes(
        "gen.pcap".as_ref(),
        pcap.clone(),
        Lines::default(),
        Pace::AsFast,
    )
    .unwrap();
    loop {
        match b.pump(&mut src) {
            Ok(_) => {}
            Err(SourceError::End) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(b.core.stats.messages, 150_000);
    assert_eq!(b.session.stats().packets_total(), packets);
    assert!(
        b.session.is_finished(),
        "the capture ends with an end-of-session packet"
    );
    assert_eq!(a.core.stats.by_type, b.core.stats.by_type);
    for locate in a.core.books.active_locates() {
        for side in [Side::Buy, Side::Sell] {
            let x: Vec<_> = a.core.books.depth(locate, side).collect();
            let y: Vec<_> = b.core.books.depth(locate, side).collect();
            assert_eq!(x, y, "locate {locate} {side:?}");
        }
    }

    // An independent decoder of the framing: tshark's MoldUDP64 dissector.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.pcap");
    std::fs::write(&path, &pcap).unwrap();
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-d",
            "udp.port==26477,moldudp64",
            "-T",
            "fields",
        ])
        .args([
            "-e",
            "moldudp64.session",
            "-e",
            "moldudp64.sequence",
            "-e",
            "moldudp64.count",
        ])
        .output()
        .expect("tshark is installed by scripts/test (Debian package tshark)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len() as u64, packets);
    let mut next = 1u64;
    let mut total = 0u64;
    for r in &rows[..rows.len() - 1] {
        assert_eq!(r[0], "HOTPATH001");
        assert_eq!(r[1].parse::<u64>().unwrap(), next, "sequences follow on");
        let c: u64 = r[2].parse().unwrap();
        next += c;
        total += c;
    }
    assert_eq!(total, LengthPrefixed::new(&raw).count() as u64);
    let last = rows.last().unwrap();
    assert_eq!(last[2], "65535", "end of session");
    assert_eq!(last[1].parse::<u64>().unwrap(), next);
}

#[test]
fn a_capture_with_garbage_frames_counts_them_by_reason_and_loses_nothing() {
    use hotpath_feed::net::{write_udp_frame, FrameError};
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    let mut raw = Vec::new();
    gen::write_itch(
        Generator::new(GenConfig {
            messages: 5_000,
            seed: 3,
            symbols: 5,
            live_target: None,
        })
        .unwrap(),
        &mut raw,
        |_| {},
    )
    .unwrap();
    let mut clean = Vec::new();
    gen::itch_to_pcap(&raw, &mut clean, &PcapOptions::default(), |_| {}).unwrap();
    // Re-write the capture with junk frames between the real ones.
    let (rest, parser) = pcap_file::pcap::PcapParser::new(&clean).unwrap();
    let mut out = Vec::new();
    let mut w = PcapWriter::with_header(&mut out, parser.header()).unwrap();
    let mut rest = rest;
    let mut junk = 0;
    while !rest.is_empty() {
        let (r, p) = parser.next_packet(rest).unwrap();
        rest = r;
        w.write_packet(&p).unwrap();
        let mut tcp = Vec::new();
        write_udp_frame(
            &mut tcp,
            "10.0.0.1:1".parse().unwrap(),
            "10.0.0.2:2".parse().unwrap(),
            b"x",
        );
        tcp[14 + 9] = 6;
        for bad in [vec![0u8; 9], tcp] {
            w.write_packet(&PcapPacket::new(p.timestamp, bad.len() as u32, &bad))
                .unwrap();
            junk += 1;
        }
    }
    let _ = w.into_writer();
    let mut feed = Feed::new(
        &FeedConfig {
            books: small_books(),
            ..FeedConfig::default()
        },
        hotpath_book::NullSink,
    )
    .unwrap();
    let mut src =
        PcapSource::from_bytes("junk.pcap".as_ref(), out, Lines::default(), Pace::AsFast).unwrap();
    while !matches!(feed.pump(&mut src), Err(SourceError::End)) {}
    let st = hotpath_feed::source::PacketSource::stats(&src);
    assert_eq!(feed.core.stats.messages, 5_000, "nothing lost");
    assert_eq!(st.skipped_frames, junk);
    assert_eq!(
        st.skipped_by_reason[FrameError::ShortEthernet(0).index()],
        junk / 2
    );
    assert_eq!(
        st.skipped_by_reason[FrameError::NotUdp(6).index()],
        junk / 2
    );
}

/// `apply_itch_file` frames the stream once into its pipeline of batches: every
/// message is applied once, in order, for streams ending inside a batch or on a
/// batch's edge, shorter and longer than the pipeline, and a
/// truncated last record is counted as a framing error (and ends the stream).
#[test]
fn apply_itch_file_applies_every_message_once_and_counts_a_truncated_tail() {
    let g = Generator::new(GenConfig {
        messages: 200,
        seed: 7,
        symbols: 3,
        ..GenConfig::default()
    })
    .unwrap();
    let mut raw = Vec::new();
    gen::write_itch(g, &mut raw, |_| {}).unwrap();
    let frames: Vec<&[u8]> = LengthPrefixed::new(&raw).map(Result::unwrap).collect();
    assert_eq!(frames.len(), 200);
    let fcfg = FeedConfig {
        books: small_books(),
        ..FeedConfig::default()
    };
    for keep in [0usize, 1, 3, 4, 5, 8, 16, 17, 19, 20, 21, 31, 32, 33, 200] {
        // The first `keep` messages, then (if any are left) half of the next record.
        let end: usize = frames[..keep].iter().map(|m| 2 + m.len()).sum();
        let cut = if keep < frames.len() {
            end + 1 + frames[keep].len() / 2
        } else {
            end
        };
        let mut f = Feed::new(&fcfg, NullSink).unwrap();
        let mut seen = Vec::new();
        apply_itch_file(&mut f.core, &raw[..cut], |_, seq| seen.push(seq));
        assert_eq!(seen, (1..=keep as u64).collect::<Vec<_>>(), "keep {keep}");
        assert_eq!(f.core.stats.messages, keep as u64, "keep {keep}");
        assert_eq!(
            f.core.stats.framing_errors,
            u64::from(keep < frames.len()),
            "keep {keep}"
        );
    }
}
