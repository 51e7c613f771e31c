//! `hotpath shm ls|clean|demo`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use hotpath_shm::dir::{self, CleanOutcome, ObjectInfo};
use serde::Serialize;

use crate::{demo, CmdResult, ShmArgs};
use hotpath_benches::fmt::thousands;

#[derive(Debug, Subcommand)]
pub enum ShmCommand {
    /// List the instance's objects: kind, message type, owner, liveness, fill level.
    Ls {
        /// Every instance under the root, not just --instance.
        #[arg(long)]
        all: bool,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove objects whose owners are dead (no live process holds any of their locks).
    Clean {
        /// Every instance under the root, not just --instance.
        #[arg(long)]
        all: bool,
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Start a producer and a consumer process on rings and counters, so `hotpath stat`
    /// in another shell shows live rates.
    Demo(demo::DemoArgs),
    /// (internal) the demo's producer process.
    #[command(hide = true)]
    DemoProducer(demo::RoleArgs),
    /// (internal) the demo's consumer process.
    #[command(hide = true)]
    DemoConsumer(demo::RoleArgs),
}

#[derive(Debug, Serialize)]
struct LsRow {
    instance: String,
    name: String,
    path: PathBuf,
    kind: Option<&'static str>,
    message_type: Option<String>,
    capacity: Option<u64>,
    slot_size: Option<u64>,
    file_size: Option<u64>,
    creator_pid: Option<u32>,
    producer: Option<&'static str>,
    producer_pid: Option<u32>,
    consumer: Option<&'static str>,
    published: Option<u64>,
    fill: Option<u64>,
    error: Option<String>,
}

impl LsRow {
    fn new(
        instance: &str,
        path: PathBuf,
        info: Result<ObjectInfo, hotpath_shm::ShmError>,
    ) -> LsRow {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match info {
            Ok(i) => LsRow {
                instance: instance.into(),
                name,
                path,
                kind: Some(i.kind.as_str()),
                message_type: Some(i.type_name),
                capacity: Some(i.capacity),
                slot_size: Some(i.slot_size),
                file_size: Some(i.file_size),
                creator_pid: Some(i.creator_pid),
                producer: Some(i.producer.as_str()),
                producer_pid: Some(i.producer_pid),
                consumer: Some(i.consumer.as_str()),
                published: i.published,
                fill: i.fill,
                error: None,
            },
            Err(e) => LsRow {
                instance: instance.into(),
                name,
                path,
                kind: None,
                message_type: None,
                capacity: None,
                slot_size: None,
                file_size: None,
                creator_pid: None,
                producer: None,
                producer_pid: None,
                consumer: None,
                published: None,
                fill: None,
                error: Some(e.to_string()),
            },
        }
    }
}

fn instances(shm: &ShmArgs, all: bool) -> Result<Vec<(String, PathBuf)>, crate::Error> {
    if all {
        Ok(dir::instances(&shm.shm_root)?
            .into_iter()
            .map(|i| {
                let d = shm.shm_root.join(&i);
                (i, d)
            })
            .collect())
    } else {
        Ok(vec![(shm.instance.clone(), shm.dir()?)])
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

pub fn run(shm: &ShmArgs, cmd: ShmCommand) -> CmdResult {
    match cmd {
        ShmCommand::Ls { all, json } => {
            let mut rows = Vec::new();
            for (inst, d) in instances(shm, all)? {
                for (path, info) in dir::list(&d)? {
                    rows.push(LsRow::new(&inst, path, info));
                }
            }
            if json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                outln!(
                    "no shm objects under {}",
                    if all {
                        shm.shm_root.clone()
                    } else {
                        shm.dir()?
                    }
                    .display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "{:<12} {:<22} {:<9} {:<16} {:>10} {:>10} {:>12} {:<16} {:<8}",
                "INSTANCE",
                "NAME",
                "KIND",
                "TYPE",
                "CAPACITY",
                "FILL",
                "PUBLISHED",
                "PRODUCER",
                "CONSUMER"
            );
            for r in rows {
                if let Some(e) = &r.error {
                    outln!("{:<12} {:<22} INVALID: {e}", r.instance, r.name);
                    continue;
                }
                outln!(
                    "{:<12} {:<22} {:<9} {:<16} {:>10} {:>10} {:>12} {:<16} {:<8}",
                    r.instance,
                    r.name,
                    opt(r.kind),
                    opt(r.message_type),
                    r.capacity.map(thousands).unwrap_or_default(),
                    r.fill.map(thousands).unwrap_or_else(|| "-".into()),
                    r.published.map(thousands).unwrap_or_else(|| "-".into()),
                    format!("{} ({})", opt(r.producer), opt(r.producer_pid)),
                    opt(r.consumer),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ShmCommand::Clean { all, dry_run } => {
            let mut removed = 0;
            let mut kept = 0;
            for (_, d) in instances(shm, all)? {
                for (path, outcome) in dir::clean(&d, dry_run)? {
                    match outcome {
                        CleanOutcome::Removed => {
                            removed += 1;
                            outln!(
                                "{} {}",
                                if dry_run { "would remove" } else { "removed" },
                                path.display()
                            );
                        }
                        CleanOutcome::KeptAlive => {
                            kept += 1;
                            outln!("kept (owner alive) {}", path.display());
                        }
                    }
                }
            }
            outln!(
                "{removed} {}, {kept} kept",
                if dry_run { "to remove" } else { "removed" }
            );
            Ok(ExitCode::SUCCESS)
        }
        ShmCommand::Demo(args) => demo::run(shm, &args),
        ShmCommand::DemoProducer(args) => demo::producer(shm, &args),
        ShmCommand::DemoConsumer(args) => demo::consumer(shm, &args),
    }
}
