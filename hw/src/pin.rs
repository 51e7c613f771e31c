//! Core pinning with the `core_affinity` crate.

/// Pinning failed.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The core id is not one this process may run on.
    #[error("core {core} is not available to this process (available: {available:?})")]
    NoSuchCore { core: usize, available: Vec<usize> },
    /// The kernel refused (e.g. a cpuset excludes the core).
    #[error("could not pin the current thread to core {core}")]
    Refused { core: usize },
}

/// Core ids this process may run on, ascending.
pub fn available_cores() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Pins the calling thread to `core`.
pub fn pin_current_thread(core: usize) -> Result<(), PinError> {
    let available = available_cores();
    if !available.contains(&core) {
        return Err(PinError::NoSuchCore { core, available });
    }
    if core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        Ok(())
    } else {
        Err(PinError::Refused { core })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_to_an_available_core_and_refuses_a_missing_one() {
        let cores = available_cores();
        assert!(!cores.is_empty());
        let last = *cores.last().unwrap();
        std::thread::spawn(move || pin_current_thread(last))
            .join()
            .unwrap()
            .unwrap();
        let err = pin_current_thread(usize::MAX / 2).unwrap_err();
        assert!(matches!(err, PinError::NoSuchCore { .. }), "{err}");
        assert!(err.to_string().contains("not available"));
    }
}
