//! dpdk-sys: hotpath's own binding of the system DPDK (22.11 and later).
//!
//! Empty unless feature `dpdk` is on. With it, the build script probes `libdpdk` with
//! pkg-config, generates bindings for a narrow allowlist of EAL, ethdev, mbuf, mempool
//! and lcore functions, and compiles a small C shim (`shim/shim.c`) that turns DPDK's
//! static inline functions and macros (`rte_eth_rx_burst`, `rte_pktmbuf_alloc`,
//! `rte_pktmbuf_mtod`, `rte_errno`, ...) into real symbols, named `hp_*`.
//!
//! Everything here is raw FFI; the safe wrapper is `hotpath_hw::dpdk`.
//! (crates.io's `dpdk-sys` 0.1.5 binds DPDK 18.05 and builds only as a musl cross
//! compile, hence this one.)
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]
#![allow(clippy::all, unsafe_op_in_unsafe_fn)]

#[cfg(feature = "dpdk")]
include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
