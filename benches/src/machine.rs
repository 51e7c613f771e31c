//! The machine a benchmark ran on, recorded next to every report so numbers from
//! different hosts are never compared by accident.

use serde::{Deserialize, Serialize};

/// CPU, core count, kernel and host name of the machine running the benchmark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model from `/proc/cpuinfo` (`"unknown"` if it cannot be read).
    pub cpu_model: String,
    /// Logical cores this process may run on (its affinity mask, not the whole host).
    pub logical_cores: usize,
    /// Kernel release from `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// Host name.
    pub hostname: String,
}

impl Machine {
    /// Reads the machine description from `/proc` (Linux); fields it cannot read are
    /// `"unknown"`.
    pub fn detect() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| cpu_model(&s))
            .unwrap_or_else(unknown);
        let logical_cores = match hotpath_hw::available_cores().len() {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let kernel = read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(unknown);
        let hostname = read_trimmed("/proc/sys/kernel/hostname")
            .or_else(|| read_trimmed("/etc/hostname"))
            .unwrap_or_else(unknown);
        Machine {
            cpu_model,
            logical_cores,
            kernel,
            hostname,
        }
    }

    /// One line for tables: `AMD EPYC, 2 logical cores, Linux 6.1.0 (host)`.
    pub fn summary(&self) -> String {
        format!(
            "{}, {} logical core{}, Linux {} ({})",
            self.cpu_model,
            self.logical_cores,
            if self.logical_cores == 1 { "" } else { "s" },
            self.kernel,
            self.hostname
        )
    }
}

fn unknown() -> String {
    "unknown".to_string()
}

fn read_trimmed(path: &str) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The CPU model named in a `/proc/cpuinfo` text: x86's `model name`, or the fields
/// other architectures use instead.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    for key in [
        "model name",
        "cpu model",
        "Model",
        "Hardware",
        "Processor",
        "cpu",
    ] {
        let found = cpuinfo.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == key && !v.trim().is_empty()).then(|| v.trim().to_string())
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_model_of_several_architectures() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n";
        assert_eq!(cpu_model(x86).as_deref(), Some("AMD EPYC 7B13"));
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\n\nModel\t: Raspberry Pi 4 Model B\n";
        assert_eq!(cpu_model(arm).as_deref(), Some("Raspberry Pi 4 Model B"));
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn detects_this_machine() {
        let m = Machine::detect();
        assert!(m.logical_cores >= 1);
        assert!(!m.cpu_model.is_empty() && !m.kernel.is_empty() && !m.hostname.is_empty());
        assert!(m.summary().contains(&m.kernel));
    }
}
