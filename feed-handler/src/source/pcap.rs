//! Replaying a capture file: Ethernet (optional VLAN tags) / IPv4 / UDP frames whose
//! UDP payloads are MoldUDP64 packets.
//!
//! The whole file is read into memory at open (so replay measures the feed handler,
//! not the disk), then frames are handed out in bursts: as fast as possible, or paced
//! to the capture's timestamps at real time times N.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pcap_file::pcap::PcapParser;

use super::{Lines, PacketSource, RxMeta, SourceError, SourceStats};
use crate::net::parse_udp_frame;

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Hand out packets as fast as the consumer takes them.
    AsFast,
    /// Follow the capture timestamps, sped up by this factor (1.0 = real time).
    Speed(f64),
}

/// Packets per burst.
const BURST: usize = 64;

/// A pcap file replayed as a packet source.
pub struct PcapSource {
    path: PathBuf,
    data: Vec<u8>,
    parser: PcapParser,
    pos: usize,
    lines: Lines,
    pace: Pace,
    clock: Option<(Instant, u64)>,
    stats: SourceStats,
}

impl std::fmt::Debug for PcapSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapSource")
            .field("path", &self.path)
            .field("bytes", &self.data.len())
            .field("pos", &self.pos)
            .field("pace", &self.pace)
            .finish()
    }
}

impl PcapSource {
    /// Reads `path` and checks its pcap header.
    pub fn open(path: &Path, lines: Lines, pace: Pace) -> Result<PcapSource, SourceError> {
        let data = std::fs::read(path).map_err(|source| SourceError::Io {
            what: format!("read {}", path.display()),
            source,
        })?;
        PcapSource::from_bytes(path, data, lines, pace)
    }

    /// A source over a capture already in memory (`name` is for messages).
    pub fn from_bytes(
        name: &Path,
        data: Vec<u8>,
        lines: Lines,
        pace: Pace,
    ) -> Result<PcapSource, SourceError> {
        if let Pace::Speed(x) = pace {
            if !(x.is_finite() && x > 0.0) {
                return Err(SourceError::Format {
                    what: "replay speed".into(),
                    why: format!("{x} is not a positive factor"),
                });
            }
        }
        let (rest, parser) = PcapParser::new(&data).map_err(|e| SourceError::Format {
            what: name.display().to_string(),
            why: format!("not a pcap file: {e}"),
        })?;
        let pos = data.len() - rest.len();
        Ok(PcapSource {
            path: name.into(),
            data,
            parser,
            pos,
            lines,
            pace,
            clock: None,
            stats: SourceStats::default(),
        })
    }
}

impl PacketSource for PcapSource {
    fn recv_burst(&mut self, sink: &mut dyn FnMut(&[u8], RxMeta)) -> Result<usize, SourceError> {
        if self.pos >= self.data.len() {
            return Err(SourceError::End);
        }
        let now_ns = hotpath_shm::clock::monotonic_ns();
        let mut n = 0;
        while n < BURST && self.pos < self.data.len() {
            let (rest, pkt) = match self.parser.next_packet(&self.data[self.pos..]) {
                Ok(r) => r,
                Err(_) => {
                    // A torn last record (a capture cut short): count it, drop the rest.
                    self.stats.bad_records += 1;
                    self.pos = self.data.len();
                    break;
                }
            };
            let ts = pkt.timestamp.as_nanos() as u64;
            if let Pace::Speed(x) = self.pace {
                let (t0, ts0) = *self.clock.get_or_insert((Instant::now(), ts));
                let due = t0 + Duration::from_nanos((ts.saturating_sub(ts0) as f64 / x) as u64);
                if Instant::now() < due {
                    break; // not yet: the caller idles and asks again
                }
            }
            let consumed = self.data.len() - self.pos - rest.len();
            match parse_udp_frame(&pkt.data) {
                Ok(d) => match self.lines.classify(*d.src.ip(), d.dst) {
                    Ok(line) => {
                        self.stats.packets += 1;
                        self.stats.bytes += d.payload.len() as u64;
                        sink(
                            d.payload,
                            RxMeta {
                                ts_ns: now_ns,
                                read_ns: now_ns,
                                capture_ts_ns: ts,
                                line,
                            },
                        );
                    }
                    Err(why) => self.stats.not_ours(why),
                },
                Err(e) => {
                    self.stats.skipped_frames += 1;
                    self.stats.skipped_by_reason[e.index()] += 1;
                }
            }
            self.pos += consumed;
            n += 1;
        }
        Ok(n)
    }

    fn stats(&self) -> SourceStats {
        self.stats.clone()
    }

    fn describe(&self) -> String {
        format!(
            "pcap {} ({} bytes, {})",
            self.path.display(),
            self.data.len(),
            match self.pace {
                Pace::AsFast => "as fast as possible".to_string(),
                Pace::Speed(x) => format!("{x}x real time"),
            }
        )
    }
}
