//! Durations as the config and the CLI write them: `90s`, `10m`, `8h`,
//! `2d`, `1h30m`; a TTL between 10 minutes and 30 days.

/// A duration such as `90s`, `10m`, `8h`, `2d` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty".into());
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for ch in t.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("unknown unit {ch:?} (use s, m, h or d)")),
        };
        let n: u64 = num
            .parse()
            .map_err(|_| "a number must come before each unit".to_string())?;
        total = total.saturating_add(n.saturating_mul(unit));
        num.clear();
    }
    if !num.is_empty() {
        return Err("the last number has no unit".into());
    }
    if total == 0 {
        return Err("must be longer than zero".into());
    }
    Ok(std::time::Duration::from_secs(total))
}

/// A TTL: a duration of at least 10 minutes and at most 30 days.
pub fn parse_ttl(s: &str) -> Result<jiff::SignedDuration, String> {
    let d = parse_duration(s)?;
    if d.as_secs() < 600 {
        return Err("must be at least 10m".into());
    }
    if d.as_secs() > 30 * 86_400 {
        return Err("must be at most 30d".into());
    }
    jiff::SignedDuration::try_from(d).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("8h").unwrap().as_secs(), 8 * 3600);
        assert_eq!(parse_ttl("1h30m").unwrap().as_secs(), 5400);
        assert!(parse_ttl("5m").is_err());
        assert!(parse_ttl("8").is_err());
        assert!(parse_ttl("8x").is_err());
        assert!(parse_ttl("60d").is_err());
    }
}
