//! Number formatting for the tables `hotpath bench` and `hotpath stat` print.

/// 1234567 -> "1,234,567".
pub fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate with thousands separators, or "-" when unknown.
pub fn rate(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_finite() && r >= 0.0 => thousands(r.round() as u64),
        Some(r) if r.is_finite() => format!("-{}", thousands((-r).round() as u64)),
        _ => "-".into(),
    }
}

/// Milliseconds as a short human age ("0.4 ms", "12 s").
pub fn age_ms(ms: Option<f64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 10.0 => format!("{ms:.1} ms"),
        Some(ms) if ms < 10_000.0 => format!("{ms:.0} ms"),
        Some(ms) => format!("{:.0} s", ms / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(rate(None), "-");
        assert_eq!(rate(Some(1499.6)), "1,500");
        assert_eq!(age_ms(Some(0.42)), "0.4 ms");
        assert_eq!(age_ms(Some(12_000.0)), "12 s");
    }
}
