use std::net::IpAddr;
use std::time::{Duration, Instant};

use shoal_config::ClientLimits;

use super::*;

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn protected_mode_serves_only_loopback_without_password() {
    let l = Limits::new(&ClientLimits::default());
    assert!(l.protected_mode_denies(true, ip("10.0.0.5")));
    assert!(l.protected_mode_denies(true, ip("127.0.0.2")));
    assert!(!l.protected_mode_denies(true, ip("127.0.0.1")));
    assert!(!l.protected_mode_denies(true, ip("::1")));
    assert!(!l.protected_mode_denies(true, ip("::ffff:127.0.0.1")));
    assert!(
        !l.protected_mode_denies(true, None),
        "Unix sockets are served"
    );
    assert!(
        !l.protected_mode_denies(false, ip("10.0.0.5")),
        "a password lifts it"
    );
    assert_eq!(l.config_set(b"protected-mode", b"no"), Some(Ok(())));
    assert!(!l.protected_mode_denies(true, ip("10.0.0.5")));
    assert_eq!(
        l.config_set(b"PROTECTED-MODE", b"maybe"),
        Some(Err("argument must be 'yes' or 'no'".into()))
    );
    assert!(DENIED.starts_with(b"-DENIED Redis is running in protected mode"));
    assert!(DENIED.ends_with(b"accepting connections from the outside.\r\n"));
}

#[test]
fn maxclients_places_are_returned_on_drop() {
    let l = Limits::new(&ClientLimits {
        maxclients: 2,
        ..ClientLimits::default()
    });
    let a = l.try_connect().unwrap();
    let b = l.try_connect().unwrap();
    assert!(l.try_connect().is_none());
    assert_eq!(l.connected(), 2);
    drop(a);
    let c = l.try_connect();
    assert!(c.is_some());
    drop((b, c));
    assert_eq!(l.connected(), 0);
    assert_eq!(
        l.config_set(b"maxclients", b"0"),
        Some(Err(
            "argument must be between 1 and 4294967295 inclusive".into()
        ))
    );
    assert_eq!(
        l.config_set(b"maxclients", b"abc"),
        Some(Err("argument couldn't be parsed into an integer".into()))
    );
}

#[test]
fn query_buffer_is_bounded_before_auth() {
    let l = Limits::new(&ClientLimits::default());
    assert_eq!(l.query_buffer_limit(true), 1024 * 1024);
    assert_eq!(l.query_buffer_limit(false), 1024 * 1024 * 1024);
    assert_eq!(
        l.config_set(b"client-query-buffer-limit", b"10"),
        Some(Err(
            "argument must be between 1048576 and 9223372036854775807 inclusive".into()
        ))
    );
    assert_eq!(
        l.config_set(b"client-query-buffer-limit", b"2mb"),
        Some(Ok(()))
    );
    assert_eq!(l.query_buffer_limit(false), 2 * 1024 * 1024);
}

#[test]
fn idle_timeout_is_live() {
    let l = Limits::new(&ClientLimits::default());
    assert_eq!(l.idle_timeout(), None, "0 = never");
    l.config_set(b"timeout", b"2").unwrap().unwrap();
    assert_eq!(l.idle_timeout(), Some(Duration::from_secs(2)));
    assert_eq!(
        l.config_set(b"timeout", b"-1"),
        Some(Err(
            "argument must be between 0 and 2147483647 inclusive".into()
        ))
    );
}

#[test]
fn output_limits_hard_and_soft_with_duration() {
    let l = Limits::new(&ClientLimits::default());
    let t0 = Instant::now();
    let mut st = OutputState::default();
    // Normal clients have no limit by default.
    assert!(!l.output_exceeded(&mut st, u64::MAX, false, t0));
    // Pub/sub: 32mb hard closes at once.
    assert!(l.output_exceeded(&mut st, 32 * 1024 * 1024, true, t0));
    // 8mb soft: closes only after more than 60 s continuously above it.
    let mut st = OutputState::default();
    let soft = 8 * 1024 * 1024;
    assert!(!l.output_exceeded(&mut st, soft, true, t0));
    assert!(!l.output_exceeded(&mut st, soft, true, t0 + Duration::from_secs(60)));
    assert!(l.output_exceeded(&mut st, soft, true, t0 + Duration::from_secs(61)));
    // Dropping below resets the clock.
    let mut st = OutputState::default();
    assert!(!l.output_exceeded(&mut st, soft, true, t0));
    assert!(!l.output_exceeded(&mut st, soft - 1, true, t0 + Duration::from_secs(30)));
    assert!(!l.output_exceeded(&mut st, soft, true, t0 + Duration::from_secs(61)));
    assert!(!l.output_exceeded(&mut st, soft, true, t0 + Duration::from_secs(100)));
    assert!(l.output_exceeded(&mut st, soft, true, t0 + Duration::from_secs(122)));
}

#[test]
fn config_get_and_set_output_limits() {
    let l = Limits::new(&ClientLimits::default());
    assert_eq!(
        l.config_get(b"client-output-buffer-limit"),
        vec![(
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60".to_string()
        )]
    );
    assert_eq!(
        l.config_set(b"client-output-buffer-limit", b"pubsub 1mb"),
        Some(Err(
            "Wrong number of arguments in buffer limit configuration.".into()
        ))
    );
    assert_eq!(
        l.config_set(
            b"client-output-buffer-limit",
            b"normal 1mb 512kb 5 pubsub 2mb 0 0"
        ),
        Some(Ok(()))
    );
    assert_eq!(
        l.config_get(b"client-output-*")[0].1,
        "normal 1048576 524288 5 slave 268435456 67108864 60 pubsub 2097152 0 0"
    );
    let names: Vec<&str> = l.config_get(b"*").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 5);
    assert_eq!(l.config_set(b"maxmemory", b"1"), None);
}
