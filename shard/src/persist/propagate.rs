//! What the AOF records for a command that changed the dataset. Most commands are recorded
//! as they came; those whose effect depends on the clock or on chance are recorded as the
//! deterministic command that has the same effect, read back from the keyspace after the
//! command ran (so the handlers need not know about the AOF):
//! - relative expiries (SET EX/PX/EXAT, SETEX, PSETEX, EXPIRE, PEXPIRE, EXPIREAT, GETEX)
//!   become PXAT/PEXPIREAT with the absolute time, or DEL when the key is gone;
//! - INCRBYFLOAT becomes SET key value KEEPTTL (float formatting must not drift on replay);
//! - HINCRBYFLOAT becomes HSET key field value;
//! - GETDEL becomes DEL;
//! - a blocking pop (run at once, or served later) becomes its non-blocking form: BLPOP →
//!   LMPOP … LEFT COUNT 1 (the same "first non-empty key" rule), BZPOPMIN → ZMPOP … MIN
//!   COUNT 1, BLMOVE → LMOVE, BRPOPLPUSH → RPOPLPUSH, BLMPOP/BZMPOP → LMPOP/ZMPOP. Replayed
//!   on the same state they pop the same elements, and no timeout is left in the file.
//!
//! A handler that knows better uses `Ctx::propagate_as` / `also_propagate` /
//! `no_propagate` (see `cmd`).

use bytes::Bytes;

use crate::db::{Db, Value};

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn num(n: i64) -> Bytes {
    Bytes::from(n.to_string())
}

/// The key's state after the command, as one command: its expiry as PEXPIREAT (or PERSIST
/// when `persist_if_none`), DEL when it is gone.
fn expiry_of(db: &Db, key: &Bytes, persist_if_none: bool) -> Option<Vec<Bytes>> {
    if !db.contains_raw(key) {
        return Some(vec![b("DEL"), key.clone()]);
    }
    match db.expire_at(key) {
        Some(at) => Some(vec![b("PEXPIREAT"), key.clone(), num(at)]),
        None if persist_if_none => Some(vec![b("PERSIST"), key.clone()]),
        None => None,
    }
}

/// The commands to record instead of `args`; None records `args` unchanged.
pub fn rewrite(db: &Db, name: &str, args: &[Bytes]) -> Option<Vec<Vec<Bytes>>> {
    let key = args.get(1)?;
    match name {
        "set" => set(db, args),
        "setex" | "psetex" => {
            let val = args.get(3)?;
            Some(vec![match db.expire_at(key) {
                Some(at) => vec![b("SET"), key.clone(), val.clone(), b("PXAT"), num(at)],
                None => vec![b("DEL"), key.clone()],
            }])
        }
        "expire" | "pexpire" | "expireat" => expiry_of(db, key, false).map(|c| vec![c]),
        "getex" => expiry_of(db, key, true).map(|c| vec![c]),
        "getdel" => Some(vec![vec![b("DEL"), key.clone()]]),
        "incrbyfloat" => match db.value_ref(key) {
            Some(Value::Str(s)) => Some(vec![vec![
                b("SET"),
                key.clone(),
                Bytes::copy_from_slice(s.as_ref()),
                b("KEEPTTL"),
            ]]),
            _ => None,
        },
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
            let keys = &args[1..args.len().saturating_sub(1)];
            let (cmd, end) = match name {
                "blpop" => ("LMPOP", "LEFT"),
                "brpop" => ("LMPOP", "RIGHT"),
                "bzpopmin" => ("ZMPOP", "MIN"),
                _ => ("ZMPOP", "MAX"),
            };
            let mut out = Vec::with_capacity(keys.len() + 5);
            out.push(b(cmd));
            out.push(num(keys.len() as i64));
            out.extend(keys.iter().cloned());
            out.extend([b(end), b("COUNT"), b("1")]);
            Some(vec![out])
        }
        "blmove" => {
            let mut out = vec![b("LMOVE")];
            out.extend(args.get(1..5)?.iter().cloned());
            Some(vec![out])
        }
        "brpoplpush" => Some(vec![vec![
            b("RPOPLPUSH"),
            key.clone(),
            args.get(2)?.clone(),
        ]]),
        "blmpop" | "bzmpop" => {
            let cmd = if name == "blmpop" { "LMPOP" } else { "ZMPOP" };
            let mut out = vec![b(cmd)];
            out.extend(args.get(2..)?.iter().cloned());
            Some(vec![out])
        }
        "hincrbyfloat" => {
            let field = args.get(2)?;
            match db.value_ref(key) {
                Some(Value::Hash(h)) => h.get(field).map(|v| {
                    vec![vec![
                        b("HSET"),
                        key.clone(),
                        field.clone(),
                        Bytes::copy_from_slice(v),
                    ]]
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// SET with a relative or absolute expiry option: the same SET with PXAT, whatever the
/// option was.
fn set(db: &Db, args: &[Bytes]) -> Option<Vec<Vec<Bytes>>> {
    let timed = |a: &Bytes| {
        ["ex", "px", "exat"]
            .iter()
            .any(|o| a.eq_ignore_ascii_case(o.as_bytes()))
    };
    if !args.iter().skip(3).any(timed) {
        return None;
    }
    let key = &args[1];
    if !db.contains_raw(key) {
        return Some(vec![vec![b("DEL"), key.clone()]]);
    }
    let mut out: Vec<Bytes> = args[..3].to_vec();
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        let with_value = timed(a) || a.eq_ignore_ascii_case(b"pxat");
        if with_value {
            i += 2;
            continue;
        }
        out.push(a.clone());
        i += 1;
    }
    if let Some(at) = db.expire_at(key) {
        out.push(b("PXAT"));
        out.push(num(at));
    }
    Some(vec![out])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ').map(|x| Bytes::from(x.to_string())).collect()
    }

    fn text(cmds: &[Vec<Bytes>]) -> Vec<String> {
        cmds.iter()
            .map(|c| {
                c.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn relative_expiries_become_absolute() {
        let mut db = Db::new();
        db.set(b"k", Value::str(b"v"), false);
        db.set_expire(b"k", 1_700_000_000_123);
        let got = rewrite(&db, "set", &argv("SET k v EX 100 GET")).unwrap();
        assert_eq!(text(&got), ["SET k v GET PXAT 1700000000123"]);
        let got = rewrite(&db, "pexpire", &argv("PEXPIRE k 5")).unwrap();
        assert_eq!(text(&got), ["PEXPIREAT k 1700000000123"]);
        let got = rewrite(&db, "setex", &argv("SETEX k 10 v")).unwrap();
        assert_eq!(text(&got), ["SET k v PXAT 1700000000123"]);
        assert!(rewrite(&db, "set", &argv("SET k v")).is_none());
    }

    #[test]
    fn blocking_pops_become_non_blocking() {
        let db = Db::new();
        let t = |name, s| text(&rewrite(&db, name, &argv(s)).unwrap());
        assert_eq!(t("blpop", "BLPOP a b 0"), ["LMPOP 2 a b LEFT COUNT 1"]);
        assert_eq!(t("bzpopmax", "BZPOPMAX z 1.5"), ["ZMPOP 1 z MAX COUNT 1"]);
        assert_eq!(
            t("blmove", "BLMOVE s d LEFT RIGHT 0"),
            ["LMOVE s d LEFT RIGHT"]
        );
        assert_eq!(t("brpoplpush", "BRPOPLPUSH s d 0"), ["RPOPLPUSH s d"]);
        assert_eq!(
            t("blmpop", "BLMPOP 0 2 a b LEFT COUNT 3"),
            ["LMPOP 2 a b LEFT COUNT 3"]
        );
    }

    #[test]
    fn a_deleted_key_is_recorded_as_del() {
        let mut db = Db::new();
        let got = rewrite(&db, "expire", &argv("EXPIRE gone -1")).unwrap();
        assert_eq!(text(&got), ["DEL gone"]);
        db.set(b"p", Value::str(b"1.5"), false);
        let got = rewrite(&db, "getex", &argv("GETEX p PERSIST")).unwrap();
        assert_eq!(text(&got), ["PERSIST p"]);
        let got = rewrite(&db, "incrbyfloat", &argv("INCRBYFLOAT p 0.5")).unwrap();
        assert_eq!(text(&got), ["SET p 1.5 KEEPTTL"]);
        let got = rewrite(&db, "getdel", &argv("GETDEL p")).unwrap();
        assert_eq!(text(&got), ["DEL p"]);
    }
}
