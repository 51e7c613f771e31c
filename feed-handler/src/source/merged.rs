//! Several sources polled as one: line A and line B from two captures, or any other
//! set a deployment needs. Two DPDK ports take their datagrams in sequence order
//! instead (`dpdk::DpdkPorts`, feature `dpdk`): a burst of each in turn lets line A's
//! burst run ahead of its holes.
//!
//! Each call to [`PacketSource::recv_burst`] takes one burst from every source still
//! running, in order, so no source can starve another; each source classifies its own
//! packets into lines (give every one the same [`super::Lines`]). A finite set ends once
//! every source has ended.

use super::{NicReader, NicStats, PacketSource, RxMeta, SourceError, SourceStats};

/// Sources polled in turn as one.
pub struct Merged {
    parts: Vec<Box<dyn PacketSource>>,
    ended: Vec<bool>,
}

impl Merged {
    /// The sources, polled in this order; `None` if there are none.
    pub fn new(parts: Vec<Box<dyn PacketSource>>) -> Option<Merged> {
        if parts.is_empty() {
            return None;
        }
        let ended = vec![false; parts.len()];
        Some(Merged { parts, ended })
    }

    /// The sources, in polling order.
    pub fn parts(&self) -> &[Box<dyn PacketSource>] {
        &self.parts
    }
}

impl PacketSource for Merged {
    fn recv_burst(&mut self, sink: &mut dyn FnMut(&[u8], RxMeta)) -> Result<usize, SourceError> {
        let mut n = 0;
        for (part, ended) in self.parts.iter_mut().zip(self.ended.iter_mut()) {
            if *ended {
                continue;
            }
            match part.recv_burst(sink) {
                Ok(k) => n += k,
                Err(SourceError::End) => *ended = true,
                Err(e) => return Err(e),
            }
        }
        if n == 0 && self.ended.iter().all(|&e| e) {
            return Err(SourceError::End);
        }
        Ok(n)
    }

    fn stats(&self) -> SourceStats {
        stats_of(self.parts.iter().map(|p| &**p as &dyn PacketSource))
    }

    fn describe(&self) -> String {
        describe_of(self.parts.iter().map(|p| &**p as &dyn PacketSource))
    }

    fn close(&mut self) {
        for p in &mut self.parts {
            p.close();
        }
    }

    fn nic_reader(&self) -> Option<NicReader> {
        nic_reader_of(self.parts.iter().map(|p| &**p as &dyn PacketSource))
    }
}

/// The sum of several sources' counts, for a source made of them.
pub(crate) fn stats_of<'a>(parts: impl Iterator<Item = &'a dyn PacketSource>) -> SourceStats {
    let mut sum = SourceStats::default();
    for p in parts {
        sum.add(&p.stats());
    }
    sum
}

/// Several sources' descriptions, joined by ` + `.
pub(crate) fn describe_of<'a>(parts: impl Iterator<Item = &'a dyn PacketSource>) -> String {
    parts.map(|p| p.describe()).collect::<Vec<_>>().join(" + ")
}

/// A reader of the sum of several sources' NIC counters, if any has a NIC.
pub(crate) fn nic_reader_of<'a>(
    parts: impl Iterator<Item = &'a dyn PacketSource>,
) -> Option<NicReader> {
    let readers: Vec<NicReader> = parts.filter_map(|p| p.nic_reader()).collect();
    if readers.is_empty() {
        return None;
    }
    Some(Box::new(move || {
        let mut sum = NicStats::default();
        for r in &readers {
            sum.add(&r());
        }
        sum
    }))
}
