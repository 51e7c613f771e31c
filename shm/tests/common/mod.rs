//! Shared by the shm integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

hotpath_shm::shm_message! {
    /// A sequenced 64-byte message whose every word can be checked.
    pub struct Seq (size = 64) {
        pub seq: u64,
        pub check: u64,
        pub words: [u64; 6],
    }
}

hotpath_shm::shm_message! {
    /// Another type, to prove attach refuses the wrong one.
    pub struct Other (size = 16) {
        pub a: u64,
        pub b: u64,
    }
}

impl Seq {
    pub fn new(seq: u64) -> Seq {
        let mut words = [0u64; 6];
        for (i, w) in words.iter_mut().enumerate() {
            *w = seq ^ ((i as u64 + 1) << 56);
        }
        Seq {
            seq,
            check: seq.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            words,
        }
    }

    /// Whether every word agrees with `seq` (detects torn or misplaced copies).
    pub fn is_intact(&self) -> bool {
        *self == Seq::new(self.seq)
    }
}

/// A scratch directory on tmpfs (shared memory), removed on drop.
pub fn scratch() -> tempfile::TempDir {
    let base = PathBuf::from("/dev/shm");
    if base.is_dir() {
        tempfile::Builder::new()
            .prefix("hotpath-test-")
            .tempdir_in(base)
            .expect("tempdir in /dev/shm")
    } else {
        tempfile::tempdir().expect("tempdir")
    }
}
