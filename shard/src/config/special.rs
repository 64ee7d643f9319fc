//! Values with their own syntax (`save`, `bind`, `notify-keyspace-events` …) and the
//! accessors of settings whose field is not a plain copy of the value.

use super::parse;
use super::table::Val;
use super::{AppendFsync, MaxmemoryPolicy, ShardConfig};

pub(super) fn show_str(v: &Val) -> String {
    match v {
        Val::Str(s) => s.clone(),
        Val::Int(n) => n.to_string(),
        Val::Bool(b) => if *b { "yes" } else { "no" }.into(),
    }
}

pub(super) fn words(s: &str) -> Vec<&str> {
    // Redis splits multi-argument values on single spaces.
    s.split(' ').collect()
}

pub(super) fn parse_save(s: &str) -> Result<Val, String> {
    parse::save_points(&words(s))
        .map(|p| Val::Str(parse::save_string(&p)))
        .ok_or_else(|| "Invalid save parameters".into())
}

pub(super) fn parse_events(s: &str) -> Result<Val, String> {
    parse::keyspace_events(s)
        .map(|f| Val::Int(f as i128))
        .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
}

pub(super) fn show_events(v: &Val) -> String {
    match v {
        Val::Int(n) => parse::keyspace_events_string(*n as u32),
        other => show_str(other),
    }
}

pub(super) fn parse_bind(s: &str) -> Result<Val, String> {
    let addrs: Vec<&str> = words(s).into_iter().filter(|a| !a.is_empty()).collect();
    if addrs.len() > 16 {
        return Err("Too many bind addresses specified.".into());
    }
    Ok(Val::Str(addrs.join(" ")))
}

pub(super) fn parse_dir(s: &str) -> Result<Val, String> {
    match std::fs::metadata(s) {
        Ok(m) if m.is_dir() => Ok(Val::Str(s.to_string())),
        Ok(_) => Err("Not a directory".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses `class hard soft seconds` groups into canonical bytes, keeping only the classes
/// named: as in Redis, a class left out keeps its current limits.
pub(super) fn parse_obuf(s: &str) -> Result<Val, String> {
    let a = words(s);
    if !a.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut classes: Vec<(&str, u128, u128, i64)> = Vec::new();
    for chunk in a.chunks(4) {
        let class = match chunk[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse::memory(chunk[1]);
        let soft = parse::memory(chunk[2]);
        let secs = chunk[3].parse::<i64>().ok().filter(|&s| s >= 0);
        match (hard, soft, secs) {
            (Some(h), Some(so), Some(se)) => {
                classes.retain(|c| c.0 != class);
                classes.push((class, h, so, se));
            }
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                )
            }
        }
    }
    Ok(Val::Str(
        classes
            .iter()
            .map(|(n, h, s, t)| format!("{n} {h} {s} {t}"))
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

pub(super) fn parse_oom_values(s: &str) -> Result<Val, String> {
    let a = words(s);
    if a.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut out = Vec::with_capacity(3);
    for v in a {
        match v.parse::<i64>() {
            Ok(n) if (-2000..=2000).contains(&n) => out.push(n.to_string()),
            _ => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
                )
            }
        }
    }
    Ok(Val::Str(out.join(" ")))
}

pub(super) fn parse_replicaof(s: &str) -> Result<Val, String> {
    // The empty default means "no master"; only startup reaches this parser.
    if s.is_empty() {
        return Ok(Val::Str(String::new()));
    }
    let a = words(s);
    if a.len() != 2 {
        return Err("wrong number of arguments".into());
    }
    if a[0].eq_ignore_ascii_case("no") && a[1].eq_ignore_ascii_case("one") {
        return Ok(Val::Str(String::new()));
    }
    match a[1].parse::<u16>() {
        Ok(port) => Ok(Val::Str(format!("{} {port}", a[0]))),
        Err(_) => Err("Invalid master port".into()),
    }
}

pub(super) fn parse_percentiles(s: &str) -> Result<Val, String> {
    if s.is_empty() {
        return Ok(Val::Str(String::new()));
    }
    let mut out = Vec::new();
    for w in words(s) {
        let p = shoal_proto::number::parse_f64(w.as_bytes())
            .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
        if !(0.0..=100.0).contains(&p) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into(),
            );
        }
        // Redis prints "%f" and trims trailing zeros.
        let text = format!("{p:.6}");
        out.push(text.trim_end_matches('0').trim_end_matches('.').to_string());
    }
    Ok(Val::Str(out.join(" ")))
}

pub(super) fn parse_shutdown_flags(s: &str) -> Result<Val, String> {
    const NAMES: [&str; 5] = ["default", "save", "nosave", "now", "force"];
    let mut seen = Vec::new();
    for w in words(s) {
        match NAMES.iter().find(|n| n.eq_ignore_ascii_case(w)) {
            Some(n) => seen.push(*n),
            None => {
                return Err(
                    "argument(s) must be one of the following: default, save, nosave, now, force"
                        .into(),
                )
            }
        }
    }
    if seen.contains(&"save") && seen.contains(&"nosave") {
        return Err("shutdown can't have both 'save' and 'nosave' flags".into());
    }
    let flags: Vec<&str> = NAMES[1..]
        .iter()
        .copied()
        .filter(|n| seen.contains(n))
        .collect();
    Ok(Val::Str(if flags.is_empty() {
        "default".into()
    } else {
        flags.join(" ")
    }))
}

pub(super) fn get_requirepass(c: &ShardConfig) -> Val {
    Val::Str(
        c.requirepass
            .as_deref()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default(),
    )
}

pub(super) fn set_requirepass(c: &mut ShardConfig, v: Val) {
    if let Val::Str(s) = v {
        c.requirepass = (!s.is_empty()).then(|| s.into_bytes());
    }
}

pub(super) fn get_unixsocket(c: &ShardConfig) -> Val {
    Val::Str(
        c.unixsocket
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    )
}

pub(super) fn set_unixsocket(c: &mut ShardConfig, v: Val) {
    if let Val::Str(s) = v {
        c.unixsocket = (!s.is_empty()).then(|| s.into());
    }
}

pub(super) fn get_loglevel(c: &ShardConfig) -> Val {
    Val::Str(c.loglevel.clone())
}

pub(super) fn set_loglevel(c: &mut ShardConfig, v: Val) {
    if let Val::Str(s) = v {
        c.loglevel = s;
    }
}

pub(super) fn get_policy(c: &ShardConfig) -> Val {
    Val::Str(c.policy().name().into())
}

pub(super) fn set_policy(c: &mut ShardConfig, v: Val) {
    if let Some(p) = MaxmemoryPolicy::from_name(&show_str(&v)) {
        c.maxmemory_policy = p.name().into();
    }
}

pub(super) fn get_fsync(c: &ShardConfig) -> Val {
    Val::Str(c.appendfsync.name().into())
}

pub(super) fn set_fsync(c: &mut ShardConfig, v: Val) {
    if let Some(f) = AppendFsync::from_name(&show_str(&v)) {
        c.appendfsync = f;
    }
}

pub(super) fn get_port(c: &ShardConfig) -> Val {
    Val::Int(c.port as i128)
}

pub(super) fn set_port(c: &mut ShardConfig, v: Val) {
    if let Val::Int(n) = v {
        c.port = n as u16;
    }
}

pub(super) fn get_hz(c: &ShardConfig) -> Val {
    Val::Int(c.hz as i128)
}

/// Redis clamps the stored value to what the cron can honour.
pub(super) fn set_hz(c: &mut ShardConfig, v: Val) {
    if let Val::Int(n) = v {
        c.hz = n.clamp(1, 500) as u32;
    }
}

pub(super) fn get_dir(c: &ShardConfig) -> Val {
    Val::Str(
        std::fs::canonicalize(&c.data_dir)
            .unwrap_or_else(|_| c.data_dir.clone())
            .display()
            .to_string(),
    )
}

pub(super) fn set_dir(c: &mut ShardConfig, v: Val) {
    if let Val::Str(s) = v {
        c.data_dir = s.into();
    }
}

pub(super) fn get_obuf(c: &ShardConfig) -> Val {
    let l = &c.obuf_limits;
    let show = |n: &str, l: &crate::config::ObufLimit| {
        format!("{n} {} {} {}", l.hard, l.soft, l.soft_seconds)
    };
    Val::Str(format!(
        "{} {} {}",
        show("normal", &l.normal),
        show("slave", &l.replica),
        show("pubsub", &l.pubsub)
    ))
}

/// Takes the canonical text `parse_obuf` produced: every class, in bytes.
pub(super) fn set_obuf(c: &mut ShardConfig, v: Val) {
    let Val::Str(s) = v else {
        return;
    };
    let words: Vec<&str> = s.split_whitespace().collect();
    for chunk in words.chunks(4) {
        let [class, hard, soft, secs] = chunk else {
            continue;
        };
        let (Ok(hard), Ok(soft), Ok(soft_seconds)) = (hard.parse(), soft.parse(), secs.parse())
        else {
            continue;
        };
        let limit = crate::config::ObufLimit {
            hard,
            soft,
            soft_seconds,
        };
        match *class {
            "normal" => c.obuf_limits.normal = limit,
            "slave" => c.obuf_limits.replica = limit,
            "pubsub" => c.obuf_limits.pubsub = limit,
            _ => {}
        }
    }
}

pub(super) fn get_save(c: &ShardConfig) -> Val {
    Val::Str(parse::save_string(&c.save))
}

pub(super) fn set_save(c: &mut ShardConfig, v: Val) {
    if let Some(p) = parse::save_points(&words(&show_str(&v))) {
        c.save = p;
    }
}

pub(super) fn get_events(c: &ShardConfig) -> Val {
    Val::Int(c.notify_keyspace_events as i128)
}

pub(super) fn set_events(c: &mut ShardConfig, v: Val) {
    if let Val::Int(n) = v {
        c.notify_keyspace_events = n as u32;
    }
}

pub(super) fn get_bind(c: &ShardConfig) -> Val {
    Val::Str(c.bind.clone())
}

pub(super) fn set_bind(c: &mut ShardConfig, v: Val) {
    if let Val::Str(s) = v {
        c.bind = s;
    }
}
