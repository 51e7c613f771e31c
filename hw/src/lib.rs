//! hotpath-hw: what hotpath needs from the host.
//!
//! For now: pinning threads to cores ([`pin`]), the idle strategies busy-polling
//! loops use when they find no work ([`idle`]), and UDP multicast with `recvmmsg`
//! ([`net`], the portable packet path), after Aeron's agents: a component's
//! duty cycle does some work, reports how much, and idles only when it did none.
//! Time comes from a [`clock::Clock`] (TSC, system or simulated), and each component's
//! thread holds its core by a [`discipline::CoreDiscipline`] (pinning, SCHED_FIFO,
//! mlockall, prefaulting, idle strategy).

pub mod alloc;
pub mod clock;
pub mod discipline;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod idle;
pub mod mem;
pub mod net;
pub mod pin;
pub mod tsc;

pub use idle::{Backoff, BusySpin, IdleStrategy, SpinThenYield};
pub use pin::{available_cores, pin_current_thread, PinError};
