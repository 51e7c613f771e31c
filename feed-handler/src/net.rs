//! Ethernet / 802.1Q VLAN / IPv4 / UDP: just enough to find a UDP payload in a captured
//! frame (pcap and DPDK sources) and to write such frames (`hotpath gen --pcap`).
//!
//! In the smoltcp manner: [`parse_udp_frame`] validates every length once and returns
//! borrowed views; malformed frames come back as a [`FrameError`] naming the layer and
//! the problem, so the caller can count them by reason.

use std::net::{Ipv4Addr, SocketAddrV4};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const IPPROTO_UDP: u8 = 17;
/// IGMP's IP protocol number.
pub const IPPROTO_IGMP: u8 = 2;

/// Why a frame holds no usable UDP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("ethernet: frame of {0} bytes is shorter than its header")]
    ShortEthernet(usize),
    #[error("ethernet: ethertype {0:#06x} is not IPv4")]
    NotIpv4(u16),
    #[error("ipv4: header truncated or version/IHL invalid")]
    BadIpv4Header,
    #[error("ipv4: total length {total} exceeds the {available} bytes captured")]
    Ipv4Truncated { total: usize, available: usize },
    #[error("ipv4: fragmented datagram (offset or more-fragments set)")]
    Fragmented,
    #[error("ipv4: protocol {0} is not UDP")]
    NotUdp(u8),
    #[error("udp: length {len} inconsistent with the {available} bytes of the IP payload")]
    BadUdpLength { len: usize, available: usize },
}

impl FrameError {
    /// Number of reasons (length of per-reason counter arrays).
    pub const COUNT: usize = 7;
    /// Every reason's name, in [`FrameError::index`] order.
    pub const NAMES: [&'static str; Self::COUNT] = [
        "short_ethernet",
        "not_ipv4",
        "bad_ipv4_header",
        "ipv4_truncated",
        "ipv4_fragment",
        "not_udp",
        "bad_udp_length",
    ];

    /// Index into a per-reason counter array.
    pub fn index(&self) -> usize {
        match self {
            FrameError::ShortEthernet(_) => 0,
            FrameError::NotIpv4(_) => 1,
            FrameError::BadIpv4Header => 2,
            FrameError::Ipv4Truncated { .. } => 3,
            FrameError::Fragmented => 4,
            FrameError::NotUdp(_) => 5,
            FrameError::BadUdpLength { .. } => 6,
        }
    }

    /// A short stable name for counters.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::ShortEthernet(_) => "short_ethernet",
            FrameError::NotIpv4(_) => "not_ipv4",
            FrameError::BadIpv4Header => "bad_ipv4_header",
            FrameError::Ipv4Truncated { .. } => "ipv4_truncated",
            FrameError::Fragmented => "ipv4_fragment",
            FrameError::NotUdp(_) => "not_udp",
            FrameError::BadUdpLength { .. } => "bad_udp_length",
        }
    }
}

/// A UDP datagram found in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    pub vlan: Option<u16>,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Finds the UDP datagram in an Ethernet II frame (with up to two VLAN tags).
///
/// The frame every feed sends, untagged IPv4 with a 20-byte header carrying a whole
/// UDP datagram, is accepted inline by one set of checks on its first 42 bytes; any
/// other frame, and any frame those checks refuse, goes to [`parse_udp_frame_general`],
/// so the result (and the error, naming the problem) is the same for every input.
#[inline]
pub fn parse_udp_frame(frame: &[u8]) -> Result<UdpDatagram<'_>, FrameError> {
    if let Some(h) = frame.first_chunk::<42>() {
        let total = u16::from_be_bytes([h[16], h[17]]) as usize;
        let udp_len = u16::from_be_bytes([h[38], h[39]]) as usize;
        // Ethertype IPv4, version 4 with IHL 5, no fragment offset or more-fragments
        // flag, protocol UDP, the IP total within the frame, a UDP length of at least
        // its header and within the IP payload (so the total holds a UDP header too).
        let plain = (h[12] == 0x08)
            & (h[13] == 0x00)
            & (h[14] == 0x45)
            & ((h[20] & 0x3f) | h[21] == 0)
            & (h[23] == IPPROTO_UDP)
            & (total <= frame.len() - 14)
            & (udp_len >= 8)
            & (udp_len + 20 <= total);
        if plain {
            return Ok(UdpDatagram {
                vlan: None,
                src: SocketAddrV4::new(
                    Ipv4Addr::new(h[26], h[27], h[28], h[29]),
                    u16::from_be_bytes([h[34], h[35]]),
                ),
                dst: SocketAddrV4::new(
                    Ipv4Addr::new(h[30], h[31], h[32], h[33]),
                    u16::from_be_bytes([h[36], h[37]]),
                ),
                payload: &frame[42..34 + udp_len],
            });
        }
    }
    parse_udp_frame_general(frame)
}

/// An IPv4 packet found in a frame (not a fragment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Frame<'a> {
    pub vlan: Option<u16>,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// The protocol number (17 UDP, 2 IGMP).
    pub protocol: u8,
    /// The IP payload (after the header and its options, up to the total length).
    pub payload: &'a [u8],
}

/// Finds the IPv4 packet in an Ethernet II frame (with up to two VLAN tags): the
/// layers below [`parse_udp_frame_general`], for any protocol. Every malformation is
/// named; fragments are refused.
pub fn parse_ipv4_frame(frame: &[u8]) -> Result<Ipv4Frame<'_>, FrameError> {
    if frame.len() < 14 {
        return Err(FrameError::ShortEthernet(frame.len()));
    }
    let mut off = 12;
    let mut ethertype = be16(frame, off);
    let mut vlan = None;
    while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        if frame.len() < off + 6 {
            return Err(FrameError::ShortEthernet(frame.len()));
        }
        vlan = Some(be16(frame, off + 2) & 0x0fff);
        off += 4;
        ethertype = be16(frame, off);
    }
    if ethertype != ETHERTYPE_IPV4 {
        return Err(FrameError::NotIpv4(ethertype));
    }
    let ip = &frame[off + 2..];
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return Err(FrameError::BadIpv4Header);
    }
    let ihl = (ip[0] & 0x0f) as usize * 4;
    if ihl < 20 || ip.len() < ihl {
        return Err(FrameError::BadIpv4Header);
    }
    let total = be16(ip, 2) as usize;
    if total < ihl || total > ip.len() {
        return Err(FrameError::Ipv4Truncated {
            total,
            available: ip.len(),
        });
    }
    let frag = be16(ip, 6);
    if frag & 0x3fff != 0 {
        return Err(FrameError::Fragmented);
    }
    Ok(Ipv4Frame {
        vlan,
        src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        protocol: ip[9],
        payload: &ip[ihl..total],
    })
}

/// [`parse_udp_frame`] for any frame: VLAN tags, IP options, and every malformation
/// named. The reference the inline path is tested against.
#[inline(never)]
pub fn parse_udp_frame_general(frame: &[u8]) -> Result<UdpDatagram<'_>, FrameError> {
    let ip = parse_ipv4_frame(frame)?;
    if ip.protocol != IPPROTO_UDP {
        return Err(FrameError::NotUdp(ip.protocol));
    }
    let udp = ip.payload;
    if udp.len() < 8 {
        return Err(FrameError::BadUdpLength {
            len: udp.len(),
            available: udp.len(),
        });
    }
    let len = be16(udp, 4) as usize;
    if len < 8 || len > udp.len() {
        return Err(FrameError::BadUdpLength {
            len,
            available: udp.len(),
        });
    }
    Ok(UdpDatagram {
        vlan: ip.vlan,
        src: SocketAddrV4::new(ip.src, be16(udp, 0)),
        dst: SocketAddrV4::new(ip.dst, be16(udp, 2)),
        payload: &udp[8..len],
    })
}

/// The Internet checksum (RFC 1071) of `bytes`: IPv4 headers, IGMP messages. Over
/// bytes that hold their own correct checksum it is 0.
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        sum += u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]) as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The Ethernet address of an IPv4 multicast group (RFC 1112: 01:00:5e and the low 23
/// bits of the group).
pub fn multicast_mac(group: Ipv4Addr) -> [u8; 6] {
    let d = group.octets();
    [0x01, 0x00, 0x5e, d[1] & 0x7f, d[2], d[3]]
}

/// Appends an Ethernet II / IPv4 / UDP frame carrying `payload` to `out` (multicast
/// destination MAC derived from the group, UDP checksum 0 = none, as feeds send).
pub fn write_udp_frame(out: &mut Vec<u8>, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) {
    let dst_mac = if dst.ip().is_multicast() {
        multicast_mac(*dst.ip())
    } else {
        [0x02, 0, 0, 0, 0, 0x02]
    };
    out.extend_from_slice(&dst_mac);
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    out.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    ip[12..16].copy_from_slice(&src.ip().octets());
    ip[16..20].copy_from_slice(&dst.ip().octets());
    let csum = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    out.extend_from_slice(&ip);
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    out.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(a: [u8; 4], p: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(a), p)
    }

    #[test]
    fn written_frames_parse_back() {
        let mut f = Vec::new();
        let src = addr([10, 0, 0, 1], 5000);
        let dst = addr([239, 1, 1, 1], 26477);
        write_udp_frame(&mut f, src, dst, b"hello");
        let d = parse_udp_frame(&f).unwrap();
        assert_eq!(
            (d.src, d.dst, d.payload, d.vlan),
            (src, dst, &b"hello"[..], None)
        );
        assert_eq!(&f[..6], &[0x01, 0x00, 0x5e, 1, 1, 1]);
        assert_eq!(internet_checksum(&f[14..34]), 0, "checksum verifies");

        // The same with a VLAN tag inserted.
        let mut v = f[..12].to_vec();
        v.extend_from_slice(&[0x81, 0x00, 0x00, 141]);
        v.extend_from_slice(&f[12..]);
        assert_eq!(parse_udp_frame(&v).unwrap().vlan, Some(141));
    }

    #[test]
    fn malformed_frames_name_the_problem() {
        let mut f = Vec::new();
        write_udp_frame(
            &mut f,
            addr([1, 2, 3, 4], 1),
            addr([239, 0, 0, 1], 2),
            b"xyz",
        );
        assert_eq!(
            parse_udp_frame(&f[..10]),
            Err(FrameError::ShortEthernet(10))
        );
        let mut arp = f.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(parse_udp_frame(&arp), Err(FrameError::NotIpv4(0x0806)));
        let mut tcp = f.clone();
        tcp[14 + 9] = 6;
        assert_eq!(parse_udp_frame(&tcp), Err(FrameError::NotUdp(6)));
        let cut = &f[..f.len() - 2];
        assert!(matches!(
            parse_udp_frame(cut),
            Err(FrameError::Ipv4Truncated { .. })
        ));
        let mut frag = f.clone();
        frag[14 + 6] = 0x20;
        assert_eq!(parse_udp_frame(&frag), Err(FrameError::Fragmented));
        let mut udplen = f.clone();
        udplen[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&200u16.to_be_bytes());
        assert!(matches!(
            parse_udp_frame(&udplen),
            Err(FrameError::BadUdpLength { .. })
        ));
        assert_eq!(FrameError::Fragmented.reason(), "ipv4_fragment");
        for e in [
            FrameError::ShortEthernet(1),
            FrameError::NotIpv4(1),
            FrameError::BadIpv4Header,
            FrameError::Ipv4Truncated {
                total: 1,
                available: 0,
            },
            FrameError::Fragmented,
            FrameError::NotUdp(6),
            FrameError::BadUdpLength {
                len: 1,
                available: 0,
            },
        ] {
            assert_eq!(FrameError::NAMES[e.index()], e.reason());
        }
    }

    /// The inline path and the general parser agree, payload position included.
    fn same_as_general(frame: &[u8]) -> Result<(), TestCaseError> {
        let (fast, general) = (parse_udp_frame(frame), parse_udp_frame_general(frame));
        prop_assert_eq!(fast, general);
        if let (Ok(a), Ok(b)) = (fast, general) {
            prop_assert_eq!(a.payload.as_ptr(), b.payload.as_ptr());
        }
        Ok(())
    }

    proptest! {
        /// Frames near the inline path's edge: a written frame with bytes of its
        /// headers changed, cut short or padded.
        #[test]
        fn the_inline_path_agrees_with_the_general_parser(
            payload_len in 0usize..64,
            edits in proptest::collection::vec((12usize..42, any::<u8>()), 0..4),
            small in proptest::collection::vec((12usize..42, 0u8..40), 0..2),
            resize in -50isize..20,
        ) {
            let mut f = Vec::new();
            write_udp_frame(&mut f, addr([10, 0, 0, 1], 5000), addr([239, 1, 1, 1], 26477),
                &vec![7u8; payload_len]);
            // Small values hit the length fields' bounds (IP total 20..28, UDP length 8).
            for (at, v) in edits.into_iter().chain(small) {
                f[at] = v;
            }
            f.resize(f.len().saturating_add_signed(resize), 0xee);
            same_as_general(&f)?;
        }

        #[test]
        fn never_panics_and_payload_is_inside(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(d) = parse_udp_frame(&bytes) {
                let start = d.payload.as_ptr() as usize - bytes.as_ptr() as usize;
                prop_assert!(start + d.payload.len() <= bytes.len());
            }
        }
    }
}
