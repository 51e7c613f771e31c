//! Ethernet/VLAN/IPv4/UDP frame parsing (what the pcap and DPDK sources read from the
//! wire). One input is used two ways:
//! 1. parsed as a frame: never a panic; the inline path gives what the general parser
//!    gives; an accepted datagram's payload lies inside the frame, and writing that
//!    datagram again and parsing it gives it back;
//! 2. used as a payload: written into a frame and parsed back unchanged.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use hotpath_feed::net::{parse_udp_frame, parse_udp_frame_general, write_udp_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_udp_frame(data);
    let general = parse_udp_frame_general(data);
    assert_eq!(
        parsed, general,
        "the inline path and the general parser differ"
    );
    if let (Ok(a), Ok(b)) = (parsed, general) {
        assert_eq!(
            a.payload.as_ptr(),
            b.payload.as_ptr(),
            "payloads at different places"
        );
    }
    if let Ok(d) = parsed {
        let (start, end) = (data.as_ptr() as usize, data.as_ptr() as usize + data.len());
        let p = d.payload.as_ptr() as usize;
        assert!(
            p >= start && p + d.payload.len() <= end,
            "payload outside the frame"
        );
        let mut again = Vec::new();
        write_udp_frame(&mut again, d.src, d.dst, d.payload);
        let back = parse_udp_frame(&again).expect("a written frame parses");
        assert_eq!(
            (back.src, back.dst, back.payload),
            (d.src, d.dst, d.payload)
        );
    }
    if data.len() <= 1400 {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 26400);
        let dst = SocketAddrV4::new(Ipv4Addr::new(239, 1, 1, 1), 26477);
        let mut frame = Vec::new();
        write_udp_frame(&mut frame, src, dst, data);
        let d = parse_udp_frame(&frame).expect("a written frame parses");
        assert_eq!((d.src, d.dst, d.payload, d.vlan), (src, dst, data, None));
    }
});
