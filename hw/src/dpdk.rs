//! A safe wrapper over the system DPDK (feature `dpdk`, through `hw/dpdk-sys`).
//!
//! - [`Eal`]: the environment abstraction layer, initialised once per process (DPDK
//!   refuses a second `rte_eal_init`, even after cleanup), with the arguments from the
//!   config; [`Eal::probe`] attaches a virtual device after start (`net_pcap`,
//!   `net_af_packet`, `net_af_xdp`, `net_tap`, ...).
//! - [`Port`]: one ethdev port configured with N RX queues, each with its descriptors
//!   and its own mbuf pool sized at start; started, stopped and closed with the value.
//! - [`RxQueue::rx_burst`]: receives up to [`BURST`] packets and lends each one's bytes
//!   to a callback (`&[u8]` into the mbuf, no copy), then frees the whole burst in one
//!   `rte_pktmbuf_free_bulk`. Nothing allocates after start.
//! - [`Port::stats`]: ipackets, imissed, ierrors, rx_nombuf, for the feed's counters;
//!   [`Port::stats_reader`] reads them from another thread, off the polling core.
//! - [`TxQueue::send`]: the port's one TX queue, for the rare control frames a
//!   receiving port sends (IGMP reports): each frame is copied into an mbuf of the
//!   first queue's pool.
//!
//! Threads: a port's RX queue is polled by one thread at a time (the type is `Send`,
//! not `Sync`), and any thread may poll. Each queue's mempool has a per-lcore cache
//! ([`PortConfig::mempool_cache`]; by default [`MEMPOOL_CACHE`] mbufs, like testpmd's
//! 250): an EAL lcore thread takes and returns mbufs through its own cache (the last
//! freed is reused first, so the PMD writes each packet into an mbuf still in the CPU
//! cache), while a thread that is not an EAL lcore has no cache (`LCORE_ID_ANY` gets
//! none) and uses the pool's thread-safe ring. An lcore id belongs to one thread, so no
//! cache is ever shared.

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use dpdk_sys as sys;

/// Packets per receive call: the most one `rte_eth_rx_burst` returns, which returns
/// what has arrived, so a larger burst adds no wait. 64, like the pcap and recvmmsg
/// sources: each call's fixed costs (the PMD's entry, the bulk allocation and free, the
/// receive timestamp) are shared by twice as many packets as at DPDK's customary 32,
/// which `hotpath bench sources` measured faster with small packets (docs/PERFORMANCE.md).
pub const BURST: usize = 64;

/// The default [`PortConfig::mempool_cache`]. Without a cache, mbufs cycle through the
/// whole pool in ring order, so the PMD writes every packet into an mbuf that left the
/// CPU caches long ago: `hotpath bench sources` measured the `net_pcap` source (no
/// decode) at 0.15-0.31x testpmd rxonly without one and 0.5-1.0x with it, on a
/// capture that fits in cache (docs/PERFORMANCE.md).
pub const MEMPOOL_CACHE: u32 = 256;

/// DPDK's largest per-lcore mempool cache (`RTE_MEMPOOL_CACHE_MAX_SIZE`).
const MEMPOOL_CACHE_MAX: u32 = 512;

/// What went wrong, with DPDK's own error text.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `rte_eal_init` failed.
    #[error("DPDK EAL init with arguments {args:?} failed: {msg} (rte_errno {errno}); common causes: no hugepages (add --no-huge), no PCI access (add --no-pci), a second process with the same --file-prefix (add --no-shconf or --file-prefix)")]
    EalInit {
        args: Vec<String>,
        errno: i32,
        msg: String,
    },
    /// The EAL was initialised before in this process (DPDK allows it once).
    #[error("the DPDK EAL is already initialised in this process (it can be initialised once); use Eal::get")]
    AlreadyInitialised,
    /// An argument held a NUL byte.
    #[error("DPDK argument {0:?} contains a NUL byte")]
    BadArgument(String),
    /// A device could not be attached.
    #[error("attaching DPDK device {devargs:?} failed: {msg} ({code})")]
    Probe {
        devargs: String,
        code: i32,
        msg: String,
    },
    /// No port by that name or number.
    #[error(
        "no DPDK port {0:?} (ports come from --vdev/-a EAL arguments or Eal::probe; {1} available)"
    )]
    NoSuchPort(String, u16),
    /// A step of setting up a port failed.
    #[error("DPDK port {port} ({name}): {step} failed: {msg} ({code})")]
    Port {
        port: u16,
        name: String,
        step: &'static str,
        code: i32,
        msg: String,
    },
    /// An RX queue could not be set up with the sizes asked for (a PMD may want more
    /// descriptors or mbufs: `net_pcap`'s `infinite_rx` one mbuf per packet of its file).
    #[error("DPDK port {port} ({name}): setting up RX queue {queue} with {rx_desc} descriptors and a pool of {mbufs} mbufs failed: {msg} ({code}); DPDK's log above says what the driver wanted (the sizes are PortConfig's rx_desc and mbufs_per_queue; `--source dpdk?rx_desc=N&mbufs=N` on the command line)")]
    RxQueueSetup {
        port: u16,
        name: String,
        queue: u16,
        rx_desc: u16,
        mbufs: u32,
        code: i32,
        msg: String,
    },
    /// The mbuf pool could not be created.
    #[error("DPDK mbuf pool {name:?} of {mbufs} mbufs failed: {msg} (rte_errno {errno}); with --no-huge, raise -m (MB of memory)")]
    Mempool {
        name: String,
        mbufs: u32,
        errno: i32,
        msg: String,
    },
}

/// DPDK's text for an error number.
fn strerror(code: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
    // string for any input; it is copied out at once.
    unsafe { CStr::from_ptr(sys::rte_strerror(code.abs())) }
        .to_string_lossy()
        .into_owned()
}

fn rte_errno() -> i32 {
    // SAFETY: reads the calling thread's rte_errno through the shim; no preconditions.
    unsafe { sys::hp_rte_errno() }
}

/// The process's one EAL.
#[derive(Debug)]
pub struct Eal {
    args: Vec<String>,
}

static EAL: OnceLock<Eal> = OnceLock::new();
static EAL_TRIED: AtomicBool = AtomicBool::new(false);

impl Eal {
    /// Initialises the EAL with `args` (as on a DPDK command line, without the program
    /// name), e.g. `["--no-huge", "--no-pci", "--no-shconf", "-m", "256", "-l", "0",
    /// "--vdev=net_pcap0,rx_pcap=day.pcap"]`. Once per process: a second call fails with
    /// [`DpdkError::AlreadyInitialised`], whatever the first call's outcome.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<&'static Eal, DpdkError> {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
        if EAL_TRIED.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::AlreadyInitialised);
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        for a in std::iter::once("hotpath").chain(args.iter().map(String::as_str)) {
            owned.push(CString::new(a).map_err(|_| DpdkError::BadArgument(a.to_owned()))?);
        }
        // The EAL may keep pointers into argv (and permutes it): leak it, once.
        let argv: &'static mut [*mut c_char] = Box::leak(
            owned
                .into_iter()
                .map(CString::into_raw)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        // SAFETY: argv holds argc valid NUL-terminated strings that live for the rest of
        // the process; rte_eal_init is called at most once (EAL_TRIED).
        let rc = unsafe { sys::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if rc < 0 {
            let errno = rte_errno();
            return Err(DpdkError::EalInit {
                args,
                errno,
                msg: strerror(errno),
            });
        }
        Ok(EAL.get_or_init(|| Eal { args }))
    }

    /// The EAL, if [`Eal::init`] succeeded in this process.
    pub fn get() -> Option<&'static Eal> {
        EAL.get()
    }

    /// The process's EAL: initialised with `args` by the first caller, the existing one
    /// (whatever its arguments) for every later caller. Safe to call from several
    /// threads at once (test harnesses); an appliance calls [`Eal::init`] once instead.
    pub fn get_or_init<S: AsRef<str>>(args: &[S]) -> Result<&'static Eal, DpdkError> {
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = INIT.lock().unwrap_or_else(|e| e.into_inner());
        match Eal::get() {
            Some(eal) => Ok(eal),
            None => Eal::init(args),
        }
    }

    /// The arguments it was started with.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Attaches a device after start (hot plug), e.g.
    /// `net_pcap1,rx_pcap=/tmp/day.pcap,infinite_rx=1`, and returns its port.
    pub fn probe(&self, devargs: &str) -> Result<u16, DpdkError> {
        let c = CString::new(devargs).map_err(|_| DpdkError::BadArgument(devargs.into()))?;
        // SAFETY: the EAL is initialised (self exists) and c is a valid C string.
        let rc = unsafe { sys::rte_dev_probe(c.as_ptr()) };
        if rc < 0 {
            return Err(DpdkError::Probe {
                devargs: devargs.into(),
                code: rc,
                msg: strerror(rc),
            });
        }
        let name = devargs.split(',').next().unwrap_or(devargs);
        self.port_by_name(name)
    }

    /// Ports available now.
    pub fn port_count(&self) -> u16 {
        // SAFETY: the EAL is initialised; no arguments.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// The port of a device name (`net_pcap0`), or a decimal port number.
    pub fn port_by_name(&self, name: &str) -> Result<u16, DpdkError> {
        if let Ok(n) = name.parse::<u16>() {
            if n < self.port_count() {
                return Ok(n);
            }
        } else if let Ok(c) = CString::new(name) {
            let mut id = 0u16;
            // SAFETY: c is a valid C string; id is a valid out pointer.
            if unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) } == 0 {
                return Ok(id);
            }
        }
        Err(DpdkError::NoSuchPort(name.into(), self.port_count()))
    }
}

/// How to set up a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// RX queues (each polled by one thread).
    pub rx_queues: u16,
    /// Descriptors per RX queue.
    pub rx_desc: u16,
    /// Mbufs per RX queue's pool (at least `rx_desc` + a few bursts).
    pub mbufs_per_queue: u32,
    /// Put the port in promiscuous mode (multicast feeds on a real NIC).
    pub promiscuous: bool,
    /// Mbufs in each EAL lcore's cache of a queue's pool (0: none); clamped to DPDK's
    /// limits (at most 512, and two thirds of `mbufs_per_queue`).
    pub mempool_cache: u32,
}

impl Default for PortConfig {
    fn default() -> PortConfig {
        PortConfig {
            rx_queues: 1,
            rx_desc: 1024,
            mbufs_per_queue: 8191,
            promiscuous: true,
            mempool_cache: MEMPOOL_CACHE,
        }
    }
}

/// A port's counters (the NIC's or the PMD's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Packets the NIC dropped because the RX queue was full (we were too slow).
    pub imissed: u64,
    /// Erroneous packets received.
    pub ierrors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
    /// The link as the driver last saw it.
    pub link: Link,
}

/// A port's link, as its driver reports it without waiting (`rte_eth_link_get_nowait`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    /// The link is up: frames can arrive.
    pub up: bool,
    /// Its speed in Mb/s (0 when down or unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.up {
            return f.write_str("link down");
        }
        match self.speed_mbps {
            0 | u32::MAX => f.write_str("link up")?,
            s if s % 1000 == 0 => write!(f, "link up at {} Gb/s", s / 1000)?,
            s => write!(f, "link up at {s} Mb/s")?,
        }
        if !self.full_duplex {
            f.write_str(", half duplex")?;
        }
        Ok(())
    }
}

/// A configured, started port and its mbuf pools. The port is stopped and closed, and
/// its pools freed, when the `Port` and every [`RxQueue`] taken from it are gone.
#[derive(Debug)]
pub struct Port {
    inner: Arc<PortInner>,
    queues_taken: Vec<bool>,
    tx_taken: bool,
}

#[derive(Debug)]
struct PortInner {
    id: u16,
    name: String,
    driver: String,
    pools: Vec<*mut sys::rte_mempool>,
}

// SAFETY: the port id and pool pointers are plain handles into DPDK's process-wide
// state; a pool's per-lcore caches are used only by the one EAL thread of each lcore
// (other threads bypass them and use the thread-safe ring), which makes pools safe to
// use from any thread, and each RX queue is handed out once (RxQueue is Send, not Sync).
unsafe impl Send for PortInner {}
// SAFETY: shared access only reads the id and name and calls rte_eth_stats_get,
// rte_mempool_in_use_count and (TxQueue) mbuf allocation from the first pool, which
// DPDK allows from any thread (a pool's ring is multi-producer, multi-consumer; each
// lcore cache belongs to its lcore's one thread).
unsafe impl Sync for PortInner {}

impl Port {
    /// Configures `port` with `cfg.rx_queues` RX queues (and one TX queue, which some
    /// PMDs require), a pool per queue, and starts it. If a step after the device's
    /// configuration fails, the port is stopped and closed (a vdev's port is released:
    /// probe the device again to retry).
    pub fn open(eal: &Eal, port: u16, cfg: &PortConfig) -> Result<Port, DpdkError> {
        if port >= eal.port_count() {
            return Err(DpdkError::NoSuchPort(port.to_string(), eal.port_count()));
        }
        let name = port_name(port);
        let fail = |step: &'static str, code: i32| DpdkError::Port {
            port,
            name: name.clone(),
            step,
            code,
            msg: strerror(code),
        };
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: port is a valid port id; info is a valid out pointer.
        let rc = unsafe { sys::rte_eth_dev_info_get(port, &mut info) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_info_get", rc));
        }
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null driver_name is a static C string of the PMD.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        if cfg.rx_queues == 0 || cfg.rx_queues > info.max_rx_queues {
            return Err(fail(
                "rx queue count (0 or above the device's max_rx_queues)",
                -22,
            ));
        }
        // SAFETY: port is valid; a negative socket means "any".
        let socket = unsafe { sys::rte_eth_dev_socket_id(port) };
        let conf = sys::rte_eth_conf::default();
        // SAFETY: port is valid and stopped; conf is a zeroed (default) configuration.
        let rc = unsafe { sys::rte_eth_dev_configure(port, cfg.rx_queues, 1, &conf) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_configure", rc));
        }
        // Owns what is made from here on: an error below drops it, which stops and
        // closes the port and frees the pools made so far.
        let mut p = PortInner {
            id: port,
            name: name.clone(),
            driver,
            pools: Vec::with_capacity(cfg.rx_queues as usize),
        };
        for q in 0..cfg.rx_queues {
            let pool_name = format!("hp_p{port}_q{q}");
            let c = CString::new(pool_name.clone()).expect("no NUL");
            // DPDK requires cache * 1.5 <= mbufs.
            let cache = cfg
                .mempool_cache
                .min(MEMPOOL_CACHE_MAX)
                .min(cfg.mbufs_per_queue / 3 * 2);
            // SAFETY: valid name; sizes are plain numbers; the pool is freed in Drop.
            let pool = unsafe {
                sys::rte_pktmbuf_pool_create(
                    c.as_ptr(),
                    cfg.mbufs_per_queue,
                    cache,
                    0,
                    sys::hp_mbuf_default_buf_size(),
                    socket,
                )
            };
            if pool.is_null() {
                let errno = rte_errno();
                return Err(DpdkError::Mempool {
                    name: pool_name,
                    mbufs: cfg.mbufs_per_queue,
                    errno,
                    msg: strerror(errno),
                });
            }
            p.pools.push(pool);
            // SAFETY: port configured with cfg.rx_queues queues; pool is a valid pktmbuf
            // pool; a null rxconf means the PMD's defaults.
            let rc = unsafe {
                sys::rte_eth_rx_queue_setup(
                    port,
                    q,
                    cfg.rx_desc,
                    socket.max(0) as u32,
                    std::ptr::null(),
                    pool,
                )
            };
            if rc != 0 {
                return Err(DpdkError::RxQueueSetup {
                    port,
                    name,
                    queue: q,
                    rx_desc: cfg.rx_desc,
                    mbufs: cfg.mbufs_per_queue,
                    code: rc,
                    msg: strerror(rc),
                });
            }
        }
        // SAFETY: as above, for the one TX queue.
        let rc = unsafe {
            sys::rte_eth_tx_queue_setup(port, 0, 512, socket.max(0) as u32, std::ptr::null())
        };
        if rc != 0 {
            return Err(fail("rte_eth_tx_queue_setup", rc));
        }
        // SAFETY: port fully configured.
        let rc = unsafe { sys::rte_eth_dev_start(port) };
        if rc != 0 {
            return Err(fail("rte_eth_dev_start", rc));
        }
        if cfg.promiscuous {
            // Not every PMD supports it (net_pcap does not need it): best effort.
            // SAFETY: port started.
            let _ = unsafe { sys::rte_eth_promiscuous_enable(port) };
        }
        Ok(Port {
            inner: Arc::new(p),
            queues_taken: vec![false; cfg.rx_queues as usize],
            tx_taken: false,
        })
    }

    /// The port number.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// The device name (`net_pcap0`, a PCI address, ...).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The poll-mode driver's name.
    pub fn driver(&self) -> &str {
        &self.inner.driver
    }

    /// Takes RX queue `q` for polling (once per queue).
    pub fn rx_queue(&mut self, q: u16) -> Option<RxQueue> {
        let taken = self.queues_taken.get_mut(q as usize)?;
        if std::mem::replace(taken, true) {
            return None;
        }
        Some(RxQueue {
            port: self.inner.clone(),
            queue: q,
            bufs: [std::ptr::null_mut(); BURST],
            held: 0,
            next: 0,
            multi_segment: 0,
        })
    }

    /// Takes the port's one TX queue (once), for the rare control frames a receiving
    /// port sends (IGMP membership reports).
    pub fn tx_queue(&mut self) -> Option<TxQueue> {
        if std::mem::replace(&mut self.tx_taken, true) {
            return None;
        }
        Some(TxQueue {
            port: self.inner.clone(),
        })
    }

    /// The port's Ethernet address (what its frames are sent from).
    pub fn mac_address(&self) -> Result<[u8; 6], DpdkError> {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: valid port id; a is a valid out pointer.
        let rc = unsafe { sys::rte_eth_macaddr_get(self.inner.id, &mut a) };
        if rc != 0 {
            return Err(DpdkError::Port {
                port: self.inner.id,
                name: self.inner.name.clone(),
                step: "rte_eth_macaddr_get",
                code: rc,
                msg: strerror(rc),
            });
        }
        Ok(a.addr_bytes)
    }

    /// The port's counters now.
    pub fn stats(&self) -> PortStats {
        self.inner.stats()
    }

    /// The port's link now (also in [`PortStats::link`]).
    pub fn link(&self) -> Link {
        self.inner.link()
    }

    /// A handle that reads the port's counters from another thread while its queues
    /// are polled: the way to keep `rte_eth_stats_get` (on a NIC, reads of device
    /// registers across PCIe) off the polling core. The port stays open while a reader
    /// lives. Keep to one reader at a time: some drivers fold read-and-clear registers
    /// into their totals when read.
    pub fn stats_reader(&self) -> PortStatsReader {
        PortStatsReader {
            port: self.inner.clone(),
        }
    }

    /// Mbufs in use in queue `q`'s pool (lent to the NIC's ring or to a caller).
    pub fn mbufs_in_use(&self, q: u16) -> u32 {
        match self.inner.pools.get(q as usize) {
            // SAFETY: a live pool created in open.
            Some(&p) => unsafe { sys::rte_mempool_in_use_count(p) },
            None => 0,
        }
    }
}

impl PortInner {
    fn stats(&self) -> PortStats {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid port; s is a valid out pointer. On failure s stays zero.
        unsafe { sys::rte_eth_stats_get(self.id, &mut s) };
        PortStats {
            ipackets: s.ipackets,
            ibytes: s.ibytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            rx_nombuf: s.rx_nombuf,
            link: self.link(),
        }
    }

    fn link(&self) -> Link {
        let mut l = sys::rte_eth_link::default();
        // SAFETY: valid port; l is a valid out pointer. On failure l stays zero (down).
        let rc = unsafe { sys::rte_eth_link_get_nowait(self.id, &mut l) };
        if rc != 0 {
            return Link::default();
        }
        let up = u32::from(l.link_status()) == sys::RTE_ETH_LINK_UP;
        Link {
            up,
            speed_mbps: if up { l.link_speed } else { 0 },
            full_duplex: u32::from(l.link_duplex()) == sys::RTE_ETH_LINK_FULL_DUPLEX,
        }
    }
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // SAFETY: the port was configured by us and nothing polls or sends on it any
        // more (every RxQueue and TxQueue holds this Arc); stop and close it before its
        // pools go.
        unsafe {
            sys::rte_eth_dev_stop(self.id);
            sys::rte_eth_dev_close(self.id);
        }
        for &p in &self.pools {
            // SAFETY: the port using the pool is closed; nothing else holds its mbufs.
            unsafe { sys::rte_mempool_free(p) };
        }
    }
}

fn port_name(port: u16) -> String {
    let mut buf = [0 as c_char; 64];
    // SAFETY: buf is a writable buffer of the size DPDK's names fit in (RTE_ETH_NAME_MAX_LEN).
    let rc = unsafe { sys::rte_eth_dev_get_name_by_port(port, buf.as_mut_ptr()) };
    if rc != 0 {
        return format!("port{port}");
    }
    // SAFETY: DPDK wrote a NUL-terminated name into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// An mbuf's first segment: where its data starts (`rte_pktmbuf_mtod`), its length
/// (`data_len`) and the chain's segment count (`nb_segs`), read in place at the offsets
/// `shim.h` names, which the shim's build checks against the system `rte_mbuf.h`: no
/// call per packet.
///
/// # Safety
/// `m` must point at a valid mbuf.
#[inline(always)]
unsafe fn mbuf_first_segment(m: *const sys::rte_mbuf) -> (*const u8, u16, u16) {
    let p = m.cast::<u8>();
    // SAFETY: the caller gives a valid mbuf; the offsets are those of its buf_addr
    // (pointer), data_off, nb_segs and data_len (u16) fields, checked at build time, and
    // each is naturally aligned (an mbuf is cache-line aligned).
    unsafe {
        let buf = p
            .add(sys::HP_MBUF_OFF_BUF_ADDR as usize)
            .cast::<*const u8>()
            .read();
        let data_off = p
            .add(sys::HP_MBUF_OFF_DATA_OFF as usize)
            .cast::<u16>()
            .read();
        let segs = p
            .add(sys::HP_MBUF_OFF_NB_SEGS as usize)
            .cast::<u16>()
            .read();
        let len = p
            .add(sys::HP_MBUF_OFF_DATA_LEN as usize)
            .cast::<u16>()
            .read();
        (buf.add(data_off as usize), len, segs)
    }
}

/// Reads a port's counters from any thread ([`Port::stats_reader`]).
#[derive(Debug, Clone)]
pub struct PortStatsReader {
    port: Arc<PortInner>,
}

impl PortStatsReader {
    /// The port's counters now.
    pub fn stats(&self) -> PortStats {
        self.port.stats()
    }

    /// The port number.
    pub fn port(&self) -> u16 {
        self.port.id
    }
}

/// The TX queue of a started [`Port`] ([`Port::tx_queue`]), used by one thread.
#[derive(Debug)]
pub struct TxQueue {
    port: Arc<PortInner>,
}

// SAFETY: the queue is used by whichever single thread owns the value (&mut self to
// send); DPDK's TX and RX queues are independent, so it may be another thread than
// the RX queue's.
unsafe impl Send for TxQueue {}

impl TxQueue {
    /// Sends one frame, copied into an mbuf of the port's first pool. For rare control
    /// frames, not a data path: one allocation from the pool and one burst of one.
    /// False (and nothing sent) if the pool has no mbuf, the frame does not fit in one,
    /// or the TX ring is full.
    pub fn send(&mut self, frame: &[u8]) -> bool {
        let Ok(len) = u16::try_from(frame.len()) else {
            return false;
        };
        // SAFETY: pools[0] is a live pktmbuf pool (every port has at least one queue).
        let mut m = unsafe { sys::hp_mbuf_alloc(self.port.pools[0]) };
        if m.is_null() {
            return false;
        }
        // SAFETY: m is a fresh single-segment mbuf from our pool.
        let dst = unsafe { sys::hp_mbuf_append(m, len) };
        if dst.is_null() {
            // SAFETY: m is ours and was never handed to the PMD.
            unsafe { sys::hp_mbuf_free(m) };
            return false;
        }
        // SAFETY: append reserved len writable bytes at dst, which cannot overlap the
        // caller's frame (the mbuf came fresh from the pool).
        unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), dst, frame.len()) };
        // SAFETY: the port was configured with TX queue 0, used by this value alone;
        // &mut m is a one-element array of a valid mbuf.
        let sent = unsafe { sys::hp_tx_burst(self.port.id, 0, &mut m, 1) };
        if sent == 0 {
            // SAFETY: the PMD did not take m, so it is still ours to free.
            unsafe { sys::hp_mbuf_free(m) };
        }
        sent == 1
    }

    /// The port number.
    pub fn port(&self) -> u16 {
        self.port.id
    }
}

/// One RX queue of a started [`Port`], polled by one thread.
#[derive(Debug)]
pub struct RxQueue {
    port: Arc<PortInner>,
    queue: u16,
    bufs: [*mut sys::rte_mbuf; BURST],
    /// Of a [`RxQueue::fill`]: the mbufs held in `bufs`, and the next one to lend.
    held: usize,
    next: usize,
    multi_segment: u64,
}

// SAFETY: the queue is polled by whichever single thread owns the value; the mbuf
// pointers it holds are its own until freed. (Not Sync: &mut self to poll.)
unsafe impl Send for RxQueue {}

impl Drop for RxQueue {
    fn drop(&mut self) {
        self.release();
    }
}

impl RxQueue {
    /// Receives up to [`BURST`] packets and lends each one's frame (from its Ethernet
    /// header) to `f`, then frees them all. Returns how many were received. A packet in
    /// more than one segment (larger than an mbuf, never a MoldUDP64 packet) is counted
    /// in [`RxQueue::multi_segment`] and not handed out. If a [`RxQueue::fill`] holds
    /// packets not yet taken, those are handed out instead (and only they).
    #[inline]
    pub fn rx_burst(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let n = self.fill();
        while let Some(frame) = self.peek() {
            f(frame);
            self.next += 1;
        }
        self.release();
        n
    }

    /// Receives a burst to be lent one packet at a time ([`RxQueue::peek`],
    /// [`RxQueue::advance`]), so that two ports' packets can be taken in the order a
    /// caller chooses; once all are taken, frees them and receives the next. Returns
    /// how many are waiting to be taken.
    #[inline]
    pub fn fill(&mut self) -> usize {
        if self.next >= self.held {
            self.release();
            // SAFETY: bufs has room for BURST pointers; the port and queue were set up.
            self.held = unsafe {
                sys::hp_rx_burst(
                    self.port.id,
                    self.queue,
                    self.bufs.as_mut_ptr(),
                    BURST as u16,
                )
            } as usize;
        }
        self.held - self.next
    }

    /// Whether the last [`RxQueue::fill`] received a whole burst (more may be waiting).
    pub fn filled_a_burst(&self) -> bool {
        self.held == BURST
    }

    /// The frame of the next packet to take, if a fill holds one; a packet in more than
    /// one segment is counted and passed over.
    #[inline]
    pub fn peek(&mut self) -> Option<&[u8]> {
        while self.next < self.held {
            // SAFETY: bufs[next] is an mbuf of the last fill, held until release().
            let (data, len, segs) = unsafe { mbuf_first_segment(self.bufs[self.next]) };
            if segs == 1 {
                // SAFETY: data points at len initialised bytes of the mbuf's only
                // segment; the slice borrows self, so it ends before any release.
                return Some(unsafe { std::slice::from_raw_parts(data, len as usize) });
            }
            self.multi_segment += 1;
            self.next += 1;
        }
        None
    }

    /// Passes the packet [`RxQueue::peek`] showed.
    #[inline]
    pub fn advance(&mut self) {
        self.next = (self.next + 1).min(self.held);
    }

    /// Frees what the last fill holds.
    fn release(&mut self) {
        if self.held > 0 {
            // SAFETY: the held mbufs are ours, each freed once; no slice of them
            // outlives a borrow of self.
            unsafe { sys::rte_pktmbuf_free_bulk(self.bufs.as_mut_ptr(), self.held as u32) };
        }
        self.held = 0;
        self.next = 0;
    }

    /// Packets received in more than one segment (not handed out).
    pub fn multi_segment(&self) -> u64 {
        self.multi_segment
    }

    /// The port number.
    pub fn port(&self) -> u16 {
        self.port.id
    }

    /// The port's counters now.
    pub fn stats(&self) -> PortStats {
        self.port.stats()
    }
}
