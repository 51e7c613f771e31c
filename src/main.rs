//! `hotpath`: the one CLI of the appliance.
#![forbid(unsafe_code)]

#[macro_use]
mod out;

mod bench;
mod demo;
mod doctor;
mod dpdk_opt;
mod feed_cmd;
mod run_cmd;
mod shm_cmd;
mod stat;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Kernel-bypass market data and order gateway appliance.
#[derive(Debug, Parser)]
#[command(name = "hotpath", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    shm: ShmArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the shared-memory objects live.
#[derive(Debug, Clone, Args)]
pub struct ShmArgs {
    /// Root directory of all instances.
    #[arg(long, global = true, env = "HOTPATH_SHM_ROOT", default_value = hotpath_shm::dir::DEFAULT_ROOT)]
    pub shm_root: PathBuf,
    /// Instance name: objects live in SHM_ROOT/INSTANCE/.
    #[arg(
        long,
        global = true,
        env = "HOTPATH_INSTANCE",
        default_value = "default"
    )]
    pub instance: String,
}

impl ShmArgs {
    /// The instance directory, after validating the name.
    pub fn dir(&self) -> Result<PathBuf, hotpath_shm::ShmError> {
        hotpath_shm::dir::instance_dir(&self.shm_root, &self.instance)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the appliance's main job on bundled defaults: a generated day sent as
    /// MoldUDP64 multicast on loopback into `hotpath feed` (its own process), books
    /// built, market data read from the shm ring, and a checked summary. Later issues
    /// add the strategy, the order gateway and the offload bridge.
    Run(run_cmd::RunArgs),
    /// Live counters, heartbeats and ring fill levels of an instance, from shared memory.
    Stat(stat::StatArgs),
    /// Shared-memory objects: list, clean up, demo.
    Shm {
        #[command(subcommand)]
        command: shm_cmd::ShmCommand,
    },
    /// Generate a deterministic synthetic ITCH 5.0 day (raw file or MoldUDP64 pcap).
    Gen(feed_cmd::GenArgs),
    /// Decode a raw ITCH file or a MoldUDP64 pcap, build the books, print counts.
    Replay(feed_cmd::ReplayArgs),
    /// Run the feed handler: packets -> MoldUDP64 -> ITCH -> books -> shm market data.
    Feed(feed_cmd::FeedArgs),
    /// Send a MoldUDP64 pcap as UDP multicast (lines A/B, injected faults, request server).
    Send(feed_cmd::SendArgs),
    /// Check the host for low latency: core isolation, frequency, C-states, hugepages,
    /// NIC NUMA node, irqbalance, swap, invariant TSC (exit 1 if a check fails).
    Doctor(doctor::DoctorArgs),
    /// Benchmarks (print JSON with --json).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_cmd::run(&cli.shm, &args),
        Command::Stat(args) => stat::run(&cli.shm, &args),
        Command::Gen(args) => feed_cmd::gen_cmd(&args),
        Command::Replay(args) => feed_cmd::replay_cmd(&args),
        Command::Feed(args) => feed_cmd::feed_cmd(&cli.shm, &args),
        Command::Send(args) => feed_cmd::send_cmd(&args),
        Command::Shm { command } => shm_cmd::run(&cli.shm, command),
        Command::Doctor(args) => doctor::run(&args),
        Command::Bench { command } => bench::run(&cli.shm, command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(code) = out::quiet_exit(e.as_ref()) {
                return code;
            }
            eprintln!("hotpath: error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(2)
        }
    }
}

/// The error type of the CLI's commands.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// The result of a command: an exit code, or an error printed with its causes.
pub type CmdResult = Result<ExitCode, Error>;
