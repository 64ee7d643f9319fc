//! A user as rules again: the `ACL LIST` line and the `ACL GETUSER` fields, built the way
//! Redis 7.0 builds them (`ACLDescribeUser`): flags, password digests, keys, channels, then
//! the command rules found by a greedy best fit over the categories and fixed up with
//! single commands until they rebuild the exact bitmap.

use super::catalog::{category_bit, Catalog, CATEGORIES};
use super::sha256::to_hex;
use super::user::{KeyPattern, User, KEY_ALL, KEY_READ};

/// `user <name> <rules>` as `ACL LIST` shows it.
pub fn list_line(u: &User) -> Vec<u8> {
    let mut out = b"user ".to_vec();
    out.extend_from_slice(&u.name);
    out.push(b' ');
    out.extend_from_slice(&describe(u));
    out
}

/// Every rule needed to rebuild the user.
pub fn describe(u: &User) -> Vec<u8> {
    let mut out = Vec::new();
    for f in flags(u) {
        out.extend_from_slice(f.as_bytes());
        out.push(b' ');
    }
    for p in &u.passwords {
        out.push(b'#');
        out.extend_from_slice(to_hex(p).as_bytes());
        out.push(b' ');
    }
    if u.allkeys {
        out.extend_from_slice(b"~* ");
    } else {
        for k in &u.keys {
            out.extend_from_slice(&key_pattern(k));
            out.push(b' ');
        }
    }
    if u.allchannels {
        out.extend_from_slice(b"&* ");
    } else {
        out.extend_from_slice(b"resetchannels ");
        for c in &u.channels {
            out.push(b'&');
            out.extend_from_slice(c);
            out.push(b' ');
        }
    }
    out.extend_from_slice(command_rules(u).as_bytes());
    out
}

/// The user flags `ACL GETUSER` lists, in Redis's order.
pub fn flags(u: &User) -> Vec<&'static str> {
    let mut f = vec![if u.enabled { "on" } else { "off" }];
    if u.nopass {
        f.push("nopass");
    }
    match u.sanitize_payload {
        Some(false) => f.push("skip-sanitize-payload"),
        Some(true) => f.push("sanitize-payload"),
        None => {}
    }
    f
}

/// `~pat`, `%R~pat` or `%W~pat`.
pub fn key_pattern(k: &KeyPattern) -> Vec<u8> {
    let mut out = match k.flags {
        KEY_ALL => b"~".to_vec(),
        KEY_READ => b"%R~".to_vec(),
        _ => b"%W~".to_vec(),
    };
    out.extend_from_slice(&k.pattern);
    out
}

/// The `commands` field: `+@all`/`-@all`, then categories, then single commands.
pub fn command_rules(u: &User) -> String {
    let catalog = Catalog::get();
    let additive = !u.future_commands;
    let mut rules = String::from(if additive { "-@all " } else { "+@all " });
    // `fake` replays the emitted rules; `temp` has each applied category undone, so the
    // next category is judged on what is left to explain.
    let mut fake = User::new(b"");
    fake.set_all_commands(!additive);
    let mut temp = u.clone();
    let mut applied = [false; CATEGORIES.len()];
    loop {
        let mut best = None;
        let (mut mindiff, mut maxsame) = (usize::MAX, 0usize);
        for (j, name) in CATEGORIES.iter().enumerate() {
            if applied[j] {
                continue;
            }
            let bit = category_bit(name).unwrap_or(0);
            let (mut on, mut off) = (0usize, 0usize);
            for id in 0..catalog.len() {
                if catalog.entry(id).is_some_and(|e| e.categories & bit != 0) {
                    if temp.has_command(id) {
                        on += 1;
                    } else {
                        off += 1;
                    }
                }
            }
            let (diff, same) = if additive { (off, on) } else { (on, off) };
            if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                best = Some((j, bit));
                mindiff = diff;
                maxsame = same;
            }
        }
        let Some((j, bit)) = best else { break };
        fake.set_category(bit, additive);
        temp.set_category(bit, !additive);
        rules.push_str(if additive { "+@" } else { "-@" });
        rules.push_str(CATEGORIES[j]);
        rules.push(' ');
        applied[j] = true;
    }
    for id in 0..catalog.len() {
        let Some(e) = catalog.entry(id) else { continue };
        let userbit = u.has_command(id);
        if userbit != fake.has_command(id) {
            rules.push(if userbit { '+' } else { '-' });
            rules.push_str(e.spec.name);
            rules.push(' ');
            fake.change_perm(id, userbit);
        }
        if !userbit {
            if let Some((_, args)) = u.firstargs.iter().find(|(i, _)| *i == id) {
                for a in args {
                    rules.push('+');
                    rules.push_str(e.spec.name);
                    rules.push('|');
                    rules.push_str(&String::from_utf8_lossy(a));
                    rules.push(' ');
                }
            }
        }
    }
    rules.pop();
    rules
}

/// The `keys` field of `ACL GETUSER`.
pub fn keys_field(u: &User) -> Vec<u8> {
    if u.allkeys {
        return b"~*".to_vec();
    }
    join(u.keys.iter().map(key_pattern))
}

/// The `channels` field of `ACL GETUSER`.
pub fn channels_field(u: &User) -> Vec<u8> {
    if u.allchannels {
        return b"&*".to_vec();
    }
    join(u.channels.iter().map(|c| {
        let mut v = b"&".to_vec();
        v.extend_from_slice(c);
        v
    }))
}

fn join(items: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(&item);
    }
    out
}
