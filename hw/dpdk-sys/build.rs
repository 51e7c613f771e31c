//! Without feature `dpdk`: nothing (the crate is empty). With it: probe libdpdk >= 22.11
//! with pkg-config, compile the C shim against its headers, and generate bindings for a
//! narrow allowlist (EAL, ethdev, mbuf, mempool, lcore, errno, and the shim).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "dpdk")]
    dpdk::build();
}

#[cfg(feature = "dpdk")]
mod dpdk {
    use std::path::PathBuf;
    use std::process::Command;

    const MIN_VERSION: &str = "22.11";
    const INSTALL: &str = "install the system DPDK and the tools the binding needs: \
         `sudo apt-get install libdpdk-dev dpdk pkg-config libclang-dev` (Debian 12 ships \
         DPDK 22.11), or build without feature `dpdk`";

    pub fn build() {
        println!("cargo:rerun-if-changed=shim/shim.c");
        println!("cargo:rerun-if-changed=shim/shim.h");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");

        let lib = match pkg_config::Config::new()
            .atleast_version(MIN_VERSION)
            .probe("libdpdk")
        {
            Ok(lib) => lib,
            Err(e) => panic!(
                "\n\ndpdk-sys: feature `dpdk` needs libdpdk >= {MIN_VERSION} found by pkg-config, \
                 and it was not: {e}\n=> {INSTALL}\n\n"
            ),
        };
        // The compile flags as pkg-config gives them: include paths, but also
        // `-include rte_config.h` and the -march DPDK was built for, which the headers need.
        let cflags = pkg_config_cflags();

        let mut cc = cc::Build::new();
        cc.file("shim/shim.c")
            .include("shim")
            .warnings(true)
            .opt_level(3);
        for f in &cflags {
            cc.flag(f);
        }
        cc.compile("hotpath_dpdk_shim");

        let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
        let bindings = bindgen::Builder::default()
            .header("shim/shim.h")
            .clang_args(&cflags)
            .allowlist_function("hp_.*")
            .allowlist_function("rte_eal_(init|cleanup|process_type|has_hugepages)")
            .allowlist_function("rte_eth_(dev_configure|dev_start|dev_stop|dev_close|dev_count_avail|dev_get_port_by_name|dev_get_name_by_port|dev_info_get|dev_socket_id|rx_queue_setup|tx_queue_setup|stats_get|stats_reset|promiscuous_enable|find_next_owned_by|macaddr_get|link_get_nowait)")
            .allowlist_function("rte_dev_probe|rte_eal_hotplug_remove")
            .allowlist_function("rte_pktmbuf_(pool_create|free_bulk)")
            .allowlist_function("rte_mempool_(free|avail_count|in_use_count)")
            .allowlist_function("rte_socket_id|rte_lcore_count|rte_strerror")
            .allowlist_type("rte_eth_(conf|stats|dev_info|rxconf|txconf|link)|rte_ether_addr")
            .allowlist_var("RTE_ETHDEV_QUEUE_STAT_CNTRS|RTE_MAX_ETHPORTS|RTE_PKTMBUF_HEADROOM|SOCKET_ID_ANY|RTE_ETH_RX_OFFLOAD_.*|RTE_ETH_MQ_RX_.*|RTE_ETH_LINK_.*|HP_MBUF_OFF_.*")
            // Handled through pointers and the shim; the receive path reads four
            // fields in place at the offsets shim.h names (HP_MBUF_OFF_*), which shim.c
            // checks against the system header.
            .opaque_type("rte_mbuf")
            .opaque_type("rte_mempool")
            .derive_default(true)
            .layout_tests(false)
            .generate_comments(false)
            .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
            .generate()
            .unwrap_or_else(|e| {
                panic!("\n\ndpdk-sys: bindgen failed on the DPDK headers: {e}\n=> {INSTALL}\n\n")
            });
        bindings
            .write_to_file(out.join("bindings.rs"))
            .expect("write bindings.rs");
        println!("cargo:version={}", lib.version);
    }

    fn pkg_config_cflags() -> Vec<String> {
        let pc = std::env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
        let out = Command::new(&pc)
            .args(["--cflags", "libdpdk"])
            .output()
            .unwrap_or_else(|e| panic!("dpdk-sys: running {pc}: {e}\n=> {INSTALL}"));
        assert!(
            out.status.success(),
            "dpdk-sys: {pc} --cflags libdpdk failed: {}\n=> {INSTALL}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Split like a shell would for these flags (no quoting in DPDK's .pc), keeping
        // `-include FILE` as two arguments.
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}
