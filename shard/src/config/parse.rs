//! Redis's configuration value syntaxes, with its error texts.

/// Redis's `memtoull`: digits with an optional unit (b, k, kb, m, mb, g, gb; any case).
/// `k`/`m`/`g` are powers of 1000 and `kb`/`mb`/`gb` powers of 1024.
pub fn memory(s: &str) -> Option<u128> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    let mul: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    // An empty number reads as 0, as strtoull does.
    let n: u128 = if num.is_empty() {
        0
    } else {
        num.parse::<u64>().ok()? as u128
    };
    n.checked_mul(mul)
}

/// A decimal integer in Redis's strict `string2ll` form: no spaces, no `+`, no leading
/// zeros (except "0" itself).
pub fn strict_int(s: &str) -> Option<i128> {
    shoal_proto::number::parse_i64(s.as_bytes()).map(i128::from)
}

/// `yes`/`no`, case-insensitively.
pub fn yes_no(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

pub const NOTIFY_KEYSPACE: u32 = 1 << 0;
pub const NOTIFY_KEYEVENT: u32 = 1 << 1;
pub const NOTIFY_GENERIC: u32 = 1 << 2;
pub const NOTIFY_STRING: u32 = 1 << 3;
pub const NOTIFY_LIST: u32 = 1 << 4;
pub const NOTIFY_SET: u32 = 1 << 5;
pub const NOTIFY_HASH: u32 = 1 << 6;
pub const NOTIFY_ZSET: u32 = 1 << 7;
pub const NOTIFY_EXPIRED: u32 = 1 << 8;
pub const NOTIFY_EVICTED: u32 = 1 << 9;
pub const NOTIFY_STREAM: u32 = 1 << 10;
/// Not part of `A`: key misses are noisy and must be asked for by name.
pub const NOTIFY_KEY_MISS: u32 = 1 << 11;
pub const NOTIFY_MODULE: u32 = 1 << 13;
pub const NOTIFY_NEW: u32 = 1 << 14;
pub const NOTIFY_ALL: u32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

const CLASS_CHARS: &[(u8, u32)] = &[
    (b'g', NOTIFY_GENERIC),
    (b'$', NOTIFY_STRING),
    (b'l', NOTIFY_LIST),
    (b's', NOTIFY_SET),
    (b'h', NOTIFY_HASH),
    (b'z', NOTIFY_ZSET),
    (b'x', NOTIFY_EXPIRED),
    (b'e', NOTIFY_EVICTED),
    (b't', NOTIFY_STREAM),
    (b'd', NOTIFY_MODULE),
    (b'n', NOTIFY_NEW),
];

/// `notify-keyspace-events` classes to flags, or None for an unknown class character.
pub fn keyspace_events(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.bytes() {
        flags |= match c {
            b'A' => NOTIFY_ALL,
            b'K' => NOTIFY_KEYSPACE,
            b'E' => NOTIFY_KEYEVENT,
            b'm' => NOTIFY_KEY_MISS,
            _ => CLASS_CHARS.iter().find(|(ch, _)| *ch == c)?.1,
        };
    }
    Some(flags)
}

/// Flags back to Redis's canonical class string (`A` when every class is on).
pub fn keyspace_events_string(flags: u32) -> String {
    let mut s = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        s.push('A');
    } else {
        for &(c, bit) in CLASS_CHARS {
            if flags & bit != 0 {
                s.push(c as char);
            }
        }
    }
    for (c, bit) in [
        ('K', NOTIFY_KEYSPACE),
        ('E', NOTIFY_KEYEVENT),
        ('m', NOTIFY_KEY_MISS),
    ] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// `save` points: pairs of seconds (>= 1) and changes (>= 0); `""` means none.
pub fn save_points(args: &[&str]) -> Option<Vec<(u64, u64)>> {
    let args: &[&str] = if args.len() == 1 && args[0].is_empty() {
        &[]
    } else {
        args
    };
    if !args.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(args.len() / 2);
    for pair in args.chunks(2) {
        let secs: i64 = pair[0].parse().ok()?;
        let changes: i64 = pair[1].parse().ok()?;
        if secs < 1 || changes < 0 {
            return None;
        }
        out.push((secs as u64, changes as u64));
    }
    Some(out)
}

pub fn save_string(points: &[(u64, u64)]) -> String {
    points
        .iter()
        .map(|(s, c)| format!("{s} {c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(memory("1gb"), Some(1 << 30));
        assert_eq!(memory("1GB"), Some(1 << 30));
        assert_eq!(memory("1g"), Some(1_000_000_000));
        assert_eq!(memory("100mb"), Some(100 << 20));
        assert_eq!(memory("3k"), Some(3000));
        assert_eq!(memory("3kb"), Some(3072));
        assert_eq!(memory("42"), Some(42));
        assert_eq!(memory("42b"), Some(42));
        assert_eq!(memory("-1"), None);
        assert_eq!(memory("1tb"), None);
        assert_eq!(memory("1.5gb"), None);
        assert_eq!(memory("abc"), None);
    }

    #[test]
    fn keyspace_event_round_trip() {
        assert_eq!(
            keyspace_events("KEA").map(keyspace_events_string),
            Some("AKE".into())
        );
        assert_eq!(
            keyspace_events("Ex").map(keyspace_events_string),
            Some("xE".into())
        );
        assert_eq!(
            keyspace_events("Km$").map(keyspace_events_string),
            Some("$Km".into())
        );
        assert_eq!(keyspace_events(""), Some(0));
        assert_eq!(keyspace_events("Q"), None);
    }

    #[test]
    fn save_point_syntax() {
        assert_eq!(save_points(&[""]), Some(vec![]));
        assert_eq!(
            save_points(&["3600", "1", "60", "0"]),
            Some(vec![(3600, 1), (60, 0)])
        );
        assert_eq!(save_points(&["3600"]), None);
        assert_eq!(save_points(&["0", "1"]), None);
        assert_eq!(save_points(&["10", "-1"]), None);
        assert_eq!(save_string(&[(3600, 1), (300, 100)]), "3600 1 300 100");
    }
}
