//! UDP multicast with `recvmmsg`: the portable (non-bypass) packet path.
//!
//! [`McastRx`] joins a group on a named interface and receives bursts of datagrams
//! with one `recvmmsg` system call into buffers allocated once at open; given a source,
//! it joins only that source's channel (S,G) (source-specific multicast, RFC 4607), and
//! the kernel drops what other hosts send to the group. One socket may join several
//! groups (or channels) of one port ([`McastRx::open_channels`]): one `recvmmsg` then
//! takes them all, in the order they arrived, each with the group it was sent to
//! (`IP_PKTINFO`). [`mcast_tx`] makes a sending
//! socket bound to an interface (`IP_MULTICAST_IF`), for replayers and tests. The
//! unsafe FFI lives here so the feed handler can stay `forbid(unsafe_code)`.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Errors opening multicast sockets, naming what was asked for.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The interface does not exist or has no IPv4 address.
    #[error("interface `{iface}`: {why}")]
    Interface { iface: String, why: String },
    /// A socket call failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The address is not a multicast group.
    #[error("{0} is not an IPv4 multicast group (224.0.0.0/4)")]
    NotMulticast(Ipv4Addr),
    /// A channel's source must be one host's unicast address.
    #[error("{0} cannot be a multicast source (it must be a unicast host address)")]
    NotUnicastSource(Ipv4Addr),
    /// One socket binds one port: the groups it joins must share it.
    #[error("{0} and {1}: one socket takes groups of one port only")]
    PortsDiffer(SocketAddrV4, SocketAddrV4),
    /// No group to join, or one channel twice.
    #[error("{0}")]
    Channels(String),
}

/// A group, and for a source-specific channel its only source.
pub type Channel = (SocketAddrV4, Option<Ipv4Addr>);

/// What came with a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxInfo {
    /// Its sender.
    pub from: SocketAddrV4,
    /// The address it was sent to: the group, or for a socket of several groups what
    /// its IP header said (`IP_PKTINFO`; a unicast datagram to the port shows its
    /// host address).
    pub to: Ipv4Addr,
    /// It was longer than the buffer, and cut.
    pub truncated: bool,
    /// When the kernel received it: CLOCK_REALTIME ns from its `SO_TIMESTAMPNS` stamp,
    /// 0 if it gave none.
    pub kernel_ns: u64,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Io { what, source }
}

/// The first IPv4 address of interface `name` (e.g. `lo` -> 127.0.0.1).
pub fn iface_ipv4(name: &str) -> Result<Ipv4Addr, NetError> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`; freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(NetError::Io {
            what: "getifaddrs".into(),
            source: io::Error::last_os_error(),
        });
    }
    let mut found = None;
    let mut seen = false;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let ifname = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if ifname.to_bytes() == name.as_bytes() {
            seen = true;
            if !ifa.ifa_addr.is_null() {
                // SAFETY: ifa_addr points to a sockaddr of the family it declares.
                let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
                if family == libc::AF_INET {
                    // SAFETY: AF_INET addresses are sockaddr_in.
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                    break;
                }
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    found.ok_or_else(|| NetError::Interface {
        iface: name.into(),
        why: if seen {
            "has no IPv4 address".into()
        } else {
            "no such interface".into()
        },
    })
}

fn setsockopt<T>(fd: i32, level: i32, opt: i32, val: &T, what: &str) -> Result<(), NetError> {
    // SAFETY: `val` is a valid T for the duration of the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            val as *const T as *const libc::c_void,
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(NetError::Io {
            what: what.into(),
            source: io::Error::last_os_error(),
        })
    }
}

/// Asks for a receive buffer of `bytes` (forcing past rmem_max when privileged); the
/// kernel caps it at `net.core.rmem_max` otherwise.
fn set_rcvbuf(fd: i32, bytes: i32) {
    if setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        &bytes,
        "SO_RCVBUFFORCE",
    )
    .is_err()
    {
        let _ = setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &bytes, "SO_RCVBUF");
    }
}

/// A socket for sending to multicast groups out of `iface` (loopback delivery on, so
/// receivers on the same host see the packets).
pub fn mcast_tx(iface: &str) -> Result<UdpSocket, NetError> {
    mcast_tx_from(iface, iface_ipv4(iface)?)
}

/// The same, with `from` as the datagrams' source address (one of the host's
/// addresses, e.g. a second address of the interface, or any of 127.0.0.0/8 on `lo`):
/// a second sender to the same group, as another source's channel.
pub fn mcast_tx_from(iface: &str, from: Ipv4Addr) -> Result<UdpSocket, NetError> {
    let addr = iface_ipv4(iface)?;
    let sock = UdpSocket::bind((from, 0)).map_err(io_err(format!("bind {from}:0")))?;
    let ifaddr = libc::in_addr {
        s_addr: u32::from(addr).to_be(),
    };
    setsockopt(
        sock.as_raw_fd(),
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        &ifaddr,
        "IP_MULTICAST_IF",
    )?;
    sock.set_multicast_loop_v4(true)
        .map_err(io_err("IP_MULTICAST_LOOP"))?;
    sock.set_multicast_ttl_v4(1)
        .map_err(io_err("IP_MULTICAST_TTL"))?;
    Ok(sock)
}

/// Largest datagram [`McastRx`] receives whole (longer ones are truncated and flagged).
pub const MAX_DATAGRAM: usize = 2048;

/// Whether `source` can be a multicast channel's source: a unicast host address.
pub fn is_unicast_source(source: Ipv4Addr) -> bool {
    !(source.is_multicast()
        || source.is_broadcast()
        || source.is_unspecified()
        || source.octets()[0] >= 240)
}

/// Receives a multicast group's datagrams (or several groups' of one port) in bursts
/// with `recvmmsg`.
pub struct McastRx {
    fd: OwnedFd,
    channels: Vec<Channel>,
    bufs: Vec<[u8; MAX_DATAGRAM]>,
    iovecs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_in>,
    /// Each message's control buffer: room for its `SCM_TIMESTAMPNS` and `SO_RXQ_OVFL`
    /// (aligned for a cmsghdr).
    ctrl: Vec<[u64; CTRL_WORDS]>,
    msgs: Vec<libc::mmsghdr>,
    /// What came with each datagram of the last fill.
    infos: Vec<RxInfo>,
    /// Each datagram's length, of the last fill.
    lens: Vec<usize>,
    /// Datagrams of the last fill, and the next one not yet taken.
    filled: usize,
    next: usize,
    /// The socket's drop count as the last datagram that carried one said.
    last_drops: u32,
    /// Datagrams the kernel dropped for this socket (its queue was full), so far seen.
    drops: u64,
}

/// A control buffer's size in words: a timestamp (a 16-byte cmsghdr and a 16-byte
/// timespec), a drop count (a cmsghdr and a u32, padded to 24) and a destination (a
/// cmsghdr and a 12-byte `in_pktinfo`, padded to 32), with room to spare.
const CTRL_WORDS: usize = 16;

/// The receive buffer a socket asks for unless told otherwise: 32 MiB, about 0.5 s of a
/// busy feed's datagrams.
pub const DEFAULT_RCVBUF: usize = 32 << 20;

// SAFETY: the raw pointers inside `iovecs`/`msgs` point into this struct's own heap
// buffers (`bufs`, `addrs`, `ctrl`, `iovecs`), which move with it and are never
// reallocated; the socket fd is owned. Nothing is shared with another thread.
unsafe impl Send for McastRx {}

impl std::fmt::Debug for McastRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McastRx")
            .field("fd", &self.fd)
            .field("channels", &self.channels)
            .field("burst", &self.bufs.len())
            .finish()
    }
}

impl McastRx {
    /// Binds `group`'s port, joins `group` on `iface`, and allocates `burst` buffers.
    /// Non-blocking: [`Self::recv_burst`] returns 0 when nothing is waiting.
    pub fn open(group: SocketAddrV4, iface: &str, burst: usize) -> Result<McastRx, NetError> {
        McastRx::open_channel(group, None, iface, burst)
    }

    /// [`Self::open`], joining only `source`'s datagrams to the group when a source is
    /// given (`IP_ADD_SOURCE_MEMBERSHIP`: the kernel reports the channel (S,G) with
    /// IGMPv3 and drops other sources' datagrams before they reach the socket).
    pub fn open_channel(
        group: SocketAddrV4,
        source: Option<Ipv4Addr>,
        iface: &str,
        burst: usize,
    ) -> Result<McastRx, NetError> {
        McastRx::open_channels(&[(group, source)], iface, burst)
    }

    /// One socket for several channels of one port, so that one `recvmmsg` takes them
    /// all in the order they arrived. With one channel it binds the group's address,
    /// as [`Self::open_channel`]; with more it binds the port on every address, takes
    /// only the groups it joined itself (`IP_MULTICAST_ALL` off) and learns each
    /// datagram's destination from `IP_PKTINFO` ([`RxInfo::to`]). A group joined
    /// from any source cannot also be joined as a channel on one socket.
    pub fn open_channels(
        channels: &[Channel],
        iface: &str,
        burst: usize,
    ) -> Result<McastRx, NetError> {
        let Some(&(first, _)) = channels.first() else {
            return Err(NetError::Channels("no group to join".into()));
        };
        for (i, &(group, source)) in channels.iter().enumerate() {
            if !group.ip().is_multicast() {
                return Err(NetError::NotMulticast(*group.ip()));
            }
            if let Some(s) = source.filter(|&s| !is_unicast_source(s)) {
                return Err(NetError::NotUnicastSource(s));
            }
            if group.port() != first.port() {
                return Err(NetError::PortsDiffer(first, group));
            }
            for &(g, s) in &channels[..i] {
                if g.ip() == group.ip() && (s.is_none() || source.is_none() || s == source) {
                    return Err(NetError::Channels(format!(
                        "{} is joined twice on one socket ({} and {})",
                        group.ip(),
                        s.map_or("any source".into(), |s| format!("from {s}")),
                        source.map_or("any source".into(), |s| format!("from {s}")),
                    )));
                }
            }
        }
        let shared = channels.len() > 1;
        let ifaddr = iface_ipv4(iface)?;
        // SAFETY: plain socket(2) call; the fd is owned right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(NetError::Io {
                what: "socket".into(),
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let one: libc::c_int = 1;
        setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            &one,
            "SO_REUSEADDR",
        )?;
        set_rcvbuf(raw, DEFAULT_RCVBUF as i32);
        // The kernel stamps each datagram when it receives it (CLOCK_REALTIME), so the
        // time it then waited in the socket's queue can be told.
        setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &one,
            "SO_TIMESTAMPNS",
        )?;
        // Each datagram carries the socket's drop count (datagrams the kernel dropped
        // because the queue was full) as it was when the datagram was queued.
        setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            &one,
            "SO_RXQ_OVFL",
        )?;
        let bound = if shared {
            // Several groups: bind the port on every address, and take only the groups
            // this socket joined (by default Linux hands a socket bound to the wildcard
            // address every group any socket on the host joined); each datagram says
            // where it was sent.
            let zero: libc::c_int = 0;
            setsockopt(
                raw,
                libc::IPPROTO_IP,
                libc::IP_MULTICAST_ALL,
                &zero,
                "IP_MULTICAST_ALL",
            )?;
            setsockopt(raw, libc::IPPROTO_IP, libc::IP_PKTINFO, &one, "IP_PKTINFO")?;
            Ipv4Addr::UNSPECIFIED
        } else {
            // One group: bind its address itself so only its datagrams arrive.
            *first.ip()
        };
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: first.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(bound).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: `sin` is a valid sockaddr_in and its size is passed.
        let rc = unsafe {
            libc::bind(
                raw,
                &sin as *const libc::sockaddr_in as *const libc::sockaddr,
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(NetError::Io {
                what: format!("bind {}", SocketAddrV4::new(bound, first.port())),
                source: io::Error::last_os_error(),
            });
        }
        let in_addr = |a: Ipv4Addr| libc::in_addr {
            s_addr: u32::from(a).to_be(),
        };
        for &(group, source) in channels {
            match source {
                None => setsockopt(
                    raw,
                    libc::IPPROTO_IP,
                    libc::IP_ADD_MEMBERSHIP,
                    &libc::ip_mreq {
                        imr_multiaddr: in_addr(*group.ip()),
                        imr_interface: in_addr(ifaddr),
                    },
                    &format!("join {} on {iface} ({ifaddr})", group.ip()),
                )?,
                Some(s) => setsockopt(
                    raw,
                    libc::IPPROTO_IP,
                    libc::IP_ADD_SOURCE_MEMBERSHIP,
                    &libc::ip_mreq_source {
                        imr_multiaddr: in_addr(*group.ip()),
                        imr_interface: in_addr(ifaddr),
                        imr_sourceaddr: in_addr(s),
                    },
                    &format!("join ({s}, {}) on {iface} ({ifaddr})", group.ip()),
                )?,
            }
        }
        let burst = burst.clamp(1, 1024);
        let mut rx = McastRx {
            fd,
            channels: channels.to_vec(),
            bufs: vec![[0u8; MAX_DATAGRAM]; burst],
            iovecs: Vec::with_capacity(burst),
            // SAFETY: an all-zero sockaddr_in is a valid value.
            addrs: vec![unsafe { MaybeUninit::zeroed().assume_init() }; burst],
            ctrl: vec![[0u64; CTRL_WORDS]; burst],
            msgs: Vec::with_capacity(burst),
            infos: vec![
                RxInfo {
                    from: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
                    to: Ipv4Addr::UNSPECIFIED,
                    truncated: false,
                    kernel_ns: 0,
                };
                burst
            ],
            lens: vec![0; burst],
            filled: 0,
            next: 0,
            last_drops: 0,
            drops: 0,
        };
        for i in 0..burst {
            rx.iovecs.push(libc::iovec {
                iov_base: rx.bufs[i].as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            });
        }
        for i in 0..burst {
            // SAFETY: an all-zero msghdr/mmsghdr is a valid value; the pointers set
            // below point into this struct's own buffers.
            let mut m: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
            m.msg_hdr.msg_iov = &mut rx.iovecs[i];
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = (&mut rx.addrs[i] as *mut libc::sockaddr_in).cast();
            m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            m.msg_hdr.msg_control = rx.ctrl[i].as_mut_ptr().cast();
            m.msg_hdr.msg_controllen = size_of::<[u64; CTRL_WORDS]>() as _;
            rx.msgs.push(m);
        }
        Ok(rx)
    }

    /// The (first) group this socket joined.
    pub fn group(&self) -> SocketAddrV4 {
        self.channels[0].0
    }

    /// The only source it receives from, if it joined a channel (the first one's).
    pub fn source(&self) -> Option<Ipv4Addr> {
        self.channels[0].1
    }

    /// Every group, or channel, this socket joined.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// Asks for a receive buffer of `bytes` instead of [`DEFAULT_RCVBUF`]; returns what
    /// the kernel granted ([`Self::receive_buffer`]).
    pub fn set_receive_buffer(&mut self, bytes: usize) -> Result<usize, NetError> {
        let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
        set_rcvbuf(self.fd.as_raw_fd(), bytes);
        self.receive_buffer()
    }

    /// The receive buffer the kernel granted, in the bytes asked for (it reserves
    /// twice that for its own accounting and reports the double, halved here). Below
    /// what was asked when `net.core.rmem_max` capped it (no CAP_NET_ADMIN).
    pub fn receive_buffer(&self) -> Result<usize, NetError> {
        let mut v: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: v and len are valid out pointers of the sizes given.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(NetError::Io {
                what: "getsockopt SO_RCVBUF".into(),
                source: io::Error::last_os_error(),
            });
        }
        Ok(v.max(0) as usize / 2)
    }

    /// Datagrams the kernel dropped for this socket because its queue was full, as far
    /// as the datagrams received so far tell (each carries the count as it was when it
    /// was queued: drops after the last one received show with the next).
    pub fn kernel_drops(&self) -> u64 {
        self.drops
    }

    /// Turns the kernel's receive stamps (`SO_TIMESTAMPNS`, on from [`Self::open`]) off
    /// or on again; off, [`Self::recv_burst`] gives 0 for each datagram's time. For
    /// measuring what the stamps cost.
    pub fn set_kernel_timestamps(&mut self, on: bool) -> Result<(), NetError> {
        let v = libc::c_int::from(on);
        setsockopt(
            self.fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &v,
            "SO_TIMESTAMPNS",
        )
    }

    /// Receives up to a burst of waiting datagrams with one `recvmmsg` and hands each
    /// to `f` with what came with it; datagrams of an earlier [`Self::fill`] not yet
    /// taken go first, and then no system call is made. Returns how many; 0 when none
    /// is waiting.
    pub fn recv_burst(&mut self, mut f: impl FnMut(&[u8], RxInfo)) -> io::Result<usize> {
        if self.pending() == 0 {
            self.fill()?;
        }
        let mut n = 0;
        while let Some((payload, info)) = self.take() {
            f(payload, info);
            n += 1;
        }
        Ok(n)
    }

    /// Receives up to a burst of waiting datagrams with one `recvmmsg`, to be taken
    /// one at a time ([`Self::peek`], [`Self::take`]): a caller reading several sockets
    /// can put their datagrams in the order the kernel received them. Datagrams of the
    /// previous fill not yet taken are dropped from this socket's view, so fill once
    /// [`Self::pending`] is 0. Returns how many arrived.
    pub fn fill(&mut self) -> io::Result<usize> {
        let group = *self.channels[0].0.ip();
        self.filled = 0;
        self.next = 0;
        for m in self.msgs.iter_mut() {
            m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            m.msg_hdr.msg_controllen = size_of::<[u64; CTRL_WORDS]>() as _;
            m.msg_hdr.msg_flags = 0;
            m.msg_len = 0;
        }
        // SAFETY: every mmsghdr points at a live iovec/buffer/sockaddr of this struct,
        // sized as declared; the kernel writes at most those sizes. Non-blocking.
        let n = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                self.msgs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        for i in 0..n {
            let m = &self.msgs[i];
            let a = &self.addrs[i];
            let c = control(&m.msg_hdr);
            if let Some(d) = c.drops {
                // A running count (it wraps at 2^32): add what is new since the last.
                self.drops += u64::from(d.wrapping_sub(self.last_drops));
                self.last_drops = d;
            }
            self.lens[i] = (m.msg_len as usize).min(MAX_DATAGRAM);
            self.infos[i] = RxInfo {
                from: SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                ),
                to: c.to.unwrap_or(group),
                truncated: m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                kernel_ns: c.kernel_ns,
            };
        }
        self.filled = n;
        Ok(n)
    }

    /// Datagrams of the last [`Self::fill`] not yet taken.
    pub fn pending(&self) -> usize {
        self.filled - self.next
    }

    /// Whether the last [`Self::fill`] took a whole burst, so that more may be waiting
    /// in the socket's queue.
    pub fn filled_a_burst(&self) -> bool {
        self.filled == self.bufs.len()
    }

    /// What came with the next datagram to take, if any.
    pub fn peek(&self) -> Option<&RxInfo> {
        self.infos[..self.filled].get(self.next)
    }

    /// The next datagram of the last [`Self::fill`], if any.
    pub fn take(&mut self) -> Option<(&[u8], RxInfo)> {
        if self.next >= self.filled {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some((&self.bufs[i][..self.lens[i]], self.infos[i]))
    }
}

/// What a received message's control messages say.
#[derive(Default)]
struct Control {
    /// The `SCM_TIMESTAMPNS` stamp in ns (0 if none).
    kernel_ns: u64,
    /// The `SO_RXQ_OVFL` drop count (none until the socket has dropped).
    drops: Option<u32>,
    /// The `IP_PKTINFO` header destination (a socket of several groups).
    to: Option<Ipv4Addr>,
}

fn control(hdr: &libc::msghdr) -> Control {
    let mut out = Control::default();
    // SAFETY: hdr is a message the kernel just filled: msg_control points at this
    // McastRx's control buffer and msg_controllen says how much of it the kernel wrote,
    // so the CMSG_* walk stays inside it; each payload is read only when its cmsg_len
    // covers it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            let covers = |n: usize| (*c).cmsg_len as usize >= libc::CMSG_LEN(n as u32) as usize;
            if (*c).cmsg_level == libc::SOL_SOCKET {
                if (*c).cmsg_type == libc::SCM_TIMESTAMPNS && covers(size_of::<libc::timespec>()) {
                    let ts = libc::CMSG_DATA(c).cast::<libc::timespec>().read_unaligned();
                    out.kernel_ns = (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64;
                } else if (*c).cmsg_type == libc::SO_RXQ_OVFL && covers(size_of::<u32>()) {
                    out.drops = Some(libc::CMSG_DATA(c).cast::<u32>().read_unaligned());
                }
            } else if (*c).cmsg_level == libc::IPPROTO_IP
                && (*c).cmsg_type == libc::IP_PKTINFO
                && covers(size_of::<libc::in_pktinfo>())
            {
                let info = libc::CMSG_DATA(c)
                    .cast::<libc::in_pktinfo>()
                    .read_unaligned();
                out.to = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_multicast_round_trip_in_bursts() {
        let lo = iface_ipv4("lo").unwrap();
        assert_eq!(lo, Ipv4Addr::LOCALHOST);
        let err = iface_ipv4("no-such-if0").unwrap_err();
        assert!(err.to_string().contains("no such interface"), "{err}");
        let err = McastRx::open(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5000), "lo", 8)
            .unwrap_err();
        assert!(matches!(err, NetError::NotMulticast(_)));

        // An unusual port so parallel tests do not collide.
        let group = SocketAddrV4::new(
            Ipv4Addr::new(239, 77, 1, 1),
            41_000 + (std::process::id() % 20_000) as u16,
        );
        let mut rx = McastRx::open(group, "lo", 4).unwrap();
        let tx = mcast_tx("lo").unwrap();
        assert_eq!(rx.recv_burst(|_, _| panic!("nothing sent yet")).unwrap(), 0);
        let realtime = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        };
        let sent_from = realtime();
        for i in 0..10u8 {
            tx.send_to(&[i; 100], group).unwrap();
        }
        let sent_by = realtime();
        // They wait in the socket's queue; each keeps the time the kernel took it.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let mut got = Vec::new();
        let mut stamps = Vec::new();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 10 && std::time::Instant::now() < end {
            let n = rx
                .recv_burst(|p, info| {
                    assert!(!info.truncated);
                    assert_eq!(info.from.ip(), &Ipv4Addr::LOCALHOST);
                    assert_eq!(info.to, *group.ip());
                    stamps.push(info.kernel_ns);
                    got.push(p.to_vec());
                })
                .unwrap();
            assert!(n <= 4, "at most a burst per call");
        }
        assert_eq!(got.len(), 10);
        for (i, p) in got.iter().enumerate() {
            assert_eq!(p, &vec![i as u8; 100]);
        }
        assert!(
            stamps.iter().all(|&t| (sent_from..=sent_by).contains(&t)),
            "stamped when sent on lo ({sent_from}..={sent_by}), not when read: {stamps:?}"
        );
        assert!(stamps.is_sorted(), "{stamps:?}");

        // Without stamps, each datagram's time is 0.
        rx.set_kernel_timestamps(false).unwrap();
        tx.send_to(&[7; 100], group).unwrap();
        let mut unstamped = Vec::new();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while unstamped.is_empty() && std::time::Instant::now() < end {
            rx.recv_burst(|_, info| unstamped.push(info.kernel_ns))
                .unwrap();
        }
        assert_eq!(unstamped, [0]);
    }

    #[test]
    fn a_full_queue_drops_and_the_next_datagram_says_how_many() {
        let group = SocketAddrV4::new(
            Ipv4Addr::new(239, 77, 1, 3),
            42_000 + (std::process::id() % 20_000) as u16,
        );
        let mut rx = McastRx::open(group, "lo", 64).unwrap();
        assert!(rx.receive_buffer().unwrap() >= DEFAULT_RCVBUF || !is_root());
        let granted = rx.set_receive_buffer(64 << 10).unwrap();
        assert_eq!(granted, 64 << 10, "asked 64 KiB (forced when privileged)");
        let tx = mcast_tx("lo").unwrap();
        // Nothing reads while 300 datagrams of 1,000 bytes arrive: most are dropped.
        for i in 0..300u16 {
            tx.send_to(&[i as u8; 1000], group).unwrap();
        }
        let mut got = 0u64;
        while rx.recv_burst(|_, _| got += 1).unwrap() > 0 {}
        assert!(got < 300, "a 64 KiB queue held {got} datagrams");
        // The drops after the last datagram queued show with the next one.
        tx.send_to(&[0; 1000], group).unwrap();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut last = 0;
        while last == 0 && std::time::Instant::now() < end {
            last = rx.recv_burst(|_, _| {}).unwrap();
        }
        assert_eq!(last, 1);
        assert_eq!(
            got + 1 + rx.kernel_drops(),
            301,
            "every datagram read or counted as dropped"
        );
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    /// Receives until `want` datagrams arrived or `ms` passed; returns (payload byte,
    /// sender) of each.
    fn collect(rx: &mut McastRx, want: usize, ms: u64) -> Vec<(u8, Ipv4Addr)> {
        let mut got = Vec::new();
        let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        while got.len() < want && std::time::Instant::now() < end {
            rx.recv_burst(|p, info| got.push((p[0], *info.from.ip())))
                .unwrap();
        }
        got
    }

    #[test]
    fn a_channel_receives_its_source_only_and_the_group_every_source() {
        let bad = |s: [u8; 4]| {
            McastRx::open_channel(
                SocketAddrV4::new(Ipv4Addr::new(232, 1, 1, 1), 5000),
                Some(Ipv4Addr::from(s)),
                "lo",
                4,
            )
            .unwrap_err()
            .to_string()
        };
        for s in [
            [0, 0, 0, 0],
            [239, 1, 1, 1],
            [255, 255, 255, 255],
            [240, 0, 0, 1],
        ] {
            let e = bad(s);
            assert!(e.contains("cannot be a multicast source"), "{e}");
        }
        let group = SocketAddrV4::new(
            Ipv4Addr::new(232, 77, 1, 2),
            41_000 + (std::process::id() % 20_000) as u16,
        );
        let (s1, s2) = (Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3));
        let mut channel = McastRx::open_channel(group, Some(s2), "lo", 8).unwrap();
        assert_eq!(channel.source(), Some(s2));
        let mut any = McastRx::open(group, "lo", 8).unwrap();
        let (tx1, tx2) = (
            mcast_tx_from("lo", s1).unwrap(),
            mcast_tx_from("lo", s2).unwrap(),
        );
        for i in 0..10u8 {
            tx1.send_to(&[i; 64], group).unwrap();
            tx2.send_to(&[100 + i; 64], group).unwrap();
        }
        let all = collect(&mut any, 20, 2000);
        assert_eq!(all.len(), 20, "the group socket hears both sources");
        let from2: Vec<_> = all.iter().filter(|(_, f)| *f == s2).collect();
        assert_eq!(from2.len(), 10);
        let mut mine = collect(&mut channel, 10, 2000);
        mine.extend(collect(&mut channel, 1, 200));
        let want: Vec<_> = (0..10u8).map(|i| (100 + i, s2)).collect();
        assert_eq!(
            mine, want,
            "the channel hears only {s2}, every datagram once"
        );
    }

    #[test]
    fn one_socket_takes_the_groups_of_a_port_it_joined_in_the_order_they_came() {
        let port = 43_000 + (std::process::id() % 20_000) as u16;
        let g = |last: u8| SocketAddrV4::new(Ipv4Addr::new(239, 77, 2, last), port);
        let (a, b, other) = (g(1), g(2), g(3));
        let mut both = McastRx::open_channels(&[(a, None), (b, None)], "lo", 64).unwrap();
        assert_eq!(both.channels(), &[(a, None), (b, None)]);
        // Another socket of this host joins a third group of the same port: a socket
        // bound to the wildcard address would get its datagrams too, by default.
        let mut third = McastRx::open(other, "lo", 8).unwrap();
        let tx = mcast_tx("lo").unwrap();
        let unicast = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        for i in 0..10u8 {
            tx.send_to(&[i; 64], if i % 2 == 0 { a } else { b })
                .unwrap();
            tx.send_to(&[100 + i; 64], other).unwrap();
        }
        tx.send_to(&[200; 64], unicast).unwrap();
        let mut got = Vec::new();
        let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while got.len() < 11 && std::time::Instant::now() < end {
            both.recv_burst(|p, info| got.push((p[0], info.to)))
                .unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        both.recv_burst(|p, info| got.push((p[0], info.to)))
            .unwrap();
        let mut want: Vec<(u8, Ipv4Addr)> = (0..10u8)
            .map(|i| (i, *if i % 2 == 0 { a } else { b }.ip()))
            .collect();
        want.push((200, Ipv4Addr::LOCALHOST));
        assert_eq!(
            got, want,
            "both groups in the order sent, each with its group; not the third; a unicast datagram to the port with its address"
        );
        assert_eq!(collect(&mut third, 10, 2000).len(), 10);

        // Groups of two ports, and one group twice, are refused.
        let err = McastRx::open_channels(
            &[(a, None), (SocketAddrV4::new(*b.ip(), port ^ 1), None)],
            "lo",
            8,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("one socket takes groups of one port only"),
            "{err}"
        );
        let s1 = Some(Ipv4Addr::new(127, 0, 0, 2));
        for twice in [
            [(a, None), (a, None)],
            [(a, None), (a, s1)],
            [(a, s1), (a, s1)],
        ] {
            let err = McastRx::open_channels(&twice, "lo", 8)
                .unwrap_err()
                .to_string();
            assert!(err.contains("is joined twice on one socket"), "{err}");
        }
        assert!(McastRx::open_channels(&[], "lo", 8).is_err());
    }

    #[test]
    fn a_fill_is_taken_one_datagram_at_a_time_and_its_rest_handed_out_first() {
        let group = SocketAddrV4::new(
            Ipv4Addr::new(239, 77, 1, 4),
            44_000 + (std::process::id() % 20_000) as u16,
        );
        let mut rx = McastRx::open(group, "lo", 4).unwrap();
        let tx = mcast_tx("lo").unwrap();
        for i in 0..6u8 {
            tx.send_to(&[i; 32], group).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(rx.fill().unwrap(), 4);
        assert!(rx.filled_a_burst(), "a whole burst: more may wait");
        assert_eq!(rx.pending(), 4);
        let first = *rx.peek().unwrap();
        assert!(first.kernel_ns > 0);
        let (p, info) = rx.take().unwrap();
        assert_eq!((p, info), (&[0u8; 32][..], first));
        assert_eq!(rx.take().unwrap().0[0], 1);
        assert_eq!(rx.pending(), 2);
        // The rest of the fill goes first, without reading the socket.
        let mut got = Vec::new();
        assert_eq!(rx.recv_burst(|p, _| got.push(p[0])).unwrap(), 2);
        assert_eq!(rx.recv_burst(|p, _| got.push(p[0])).unwrap(), 2);
        assert_eq!(got, [2, 3, 4, 5]);
        assert!(!rx.filled_a_burst(), "the queue ran dry");
        assert!(rx.peek().is_none() && rx.take().is_none());
    }
}
