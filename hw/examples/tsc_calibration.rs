//! The TSC clock's calibration figures for docs/HOST.md: 20 calibrations of
//! `CALIBRATION_INTERVAL`, each followed by a 200 ms measured interval against
//! CLOCK_MONOTONIC (min / median / max). A measurement, not a test:
//!
//! ```sh
//! cargo run --release -p hotpath-hw --example tsc_calibration
//! ```

use std::time::Duration;

use hotpath_hw::clock::{TscClock, TscSupport, CALIBRATION_INTERVAL};

fn main() {
    let support = TscSupport::detect();
    println!("{support}");
    let (mut hz, mut brackets, mut offsets, mut rates) = (vec![], vec![], vec![], vec![]);
    for _ in 0..20 {
        // Forced if not invariant: the figures still say how steady this host keeps it.
        let clock =
            TscClock::calibrate_with(CALIBRATION_INTERVAL, &support, true).expect("calibration");
        let a = clock.drift();
        std::thread::sleep(Duration::from_millis(200));
        let b = clock.drift();
        let span = b.since_calibration_ns - a.since_calibration_ns;
        hz.push(clock.tsc_hz() as f64);
        brackets.push(clock.calibration().bracket_ns as f64);
        offsets.push(b.offset_ns as f64);
        rates.push((b.offset_ns - a.offset_ns) as f64 / span as f64 * 1e6);
    }
    for (name, v) in [
        ("tsc_hz", &mut hz),
        ("calibration bracket ns", &mut brackets),
        ("offset ns at +400 ms", &mut offsets),
        ("rate ppm over 200 ms", &mut rates),
    ] {
        v.sort_by(f64::total_cmp);
        println!(
            "{name}: min {:.3} median {:.3} max {:.3}",
            v[0],
            v[v.len() / 2],
            v[v.len() - 1]
        );
    }
}
