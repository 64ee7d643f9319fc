//! A user and the `ACL SETUSER` rules that change it, with Redis 7.0's semantics and error
//! texts (src/acl.c, `ACLSetUser` / `ACLSetSelector`). Selectors in parentheses are not
//! supported: they are refused as a syntax error rather than half applied.

use super::catalog::{category_bit, Catalog};
use super::sha256::{self, Digest};

/// Read access to a key (`%R~`).
pub const KEY_READ: u8 = 1;
/// Write access to a key (`%W~`).
pub const KEY_WRITE: u8 = 2;
pub const KEY_ALL: u8 = KEY_READ | KEY_WRITE;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    pub flags: u8,
    pub pattern: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: Vec<u8>,
    /// `on`; a new user is `off`.
    pub enabled: bool,
    pub nopass: bool,
    /// `sanitize-payload` (true) or `skip-sanitize-payload` (false), once either is set
    /// (`reset` sets the first). Shown by `ACL LIST`; the shard checks RESTORE payloads
    /// either way.
    pub sanitize_payload: Option<bool>,
    /// SHA-256 digests, in the order they were added.
    pub passwords: Vec<Digest>,
    pub allkeys: bool,
    pub keys: Vec<KeyPattern>,
    pub allchannels: bool,
    pub channels: Vec<Vec<u8>>,
    /// Set by `+@all`/`allcommands` and cleared by any removal: every bit is set, so the
    /// check can skip the bitmap.
    pub allcommands: bool,
    /// Set by `+@all` and cleared only by `-@all`/`nocommands`: the user may run commands
    /// added later. `ACL LIST` starts from `+@all` when it is set, `-@all` otherwise.
    pub future_commands: bool,
    /// One bit per catalog id.
    pub commands: Vec<u64>,
    /// `+select|0`: first arguments allowed for a command whose bit is not set.
    pub firstargs: Vec<(usize, Vec<Vec<u8>>)>,
}

/// Why a rule was refused; `Display` gives Redis's text for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("Unknown command or category name in ACL")]
    UnknownCommand,
    #[error("Syntax error")]
    Syntax,
    #[error("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")]
    KeyAfterAll,
    #[error("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")]
    ChannelAfterAll,
    #[error("The password you are trying to remove from the user does not exist")]
    NoSuchPassword,
    #[error("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")]
    BadHash,
    #[error("Allowing first-arg of a subcommand is not supported")]
    SubcommandFirstArg,
}

impl User {
    /// A user as `ACL SETUSER name` creates it: off, no password, no keys, no channels
    /// (Redis 7.0's `acl-pubsub-default resetchannels`), no commands.
    pub fn new(name: &[u8]) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize_payload: None,
            passwords: Vec::new(),
            allkeys: false,
            keys: Vec::new(),
            allchannels: false,
            channels: Vec::new(),
            allcommands: false,
            future_commands: false,
            commands: vec![0; Catalog::get().len().div_ceil(64)],
            firstargs: Vec::new(),
        }
    }

    /// The `default` user: on, every key, channel and command; `nopass` unless a password
    /// (requirepass) is given.
    pub fn default_user(password: Option<&[u8]>) -> User {
        let mut u = User::new(b"default");
        u.enabled = true;
        u.allkeys = true;
        u.allchannels = true;
        u.set_all_commands(true);
        match password {
            Some(p) => u.passwords.push(sha256::digest(p)),
            None => u.nopass = true,
        }
        u
    }

    /// True when nothing is restricted: the per-command check is then free.
    pub fn unrestricted(&self) -> bool {
        self.allcommands && self.allkeys && self.allchannels
    }

    /// Applies every rule, or none: Redis stages `ACL SETUSER` on a copy.
    pub fn apply_all<'a, I>(&mut self, rules: I) -> Result<(), (String, RuleError)>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut staged = self.clone();
        for rule in rules {
            staged
                .apply(rule)
                .map_err(|e| (String::from_utf8_lossy(rule).into_owned(), e))?;
        }
        *self = staged;
        Ok(())
    }

    /// Applies one rule (`ACLSetUser`).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let word = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if word("on") {
            self.enabled = true;
        } else if word("off") {
            self.enabled = false;
        } else if word("skip-sanitize-payload") {
            self.sanitize_payload = Some(false);
        } else if word("sanitize-payload") {
            self.sanitize_payload = Some(true);
        } else if word("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if word("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if word("reset") {
            self.nopass = false;
            self.passwords.clear();
            self.allkeys = false;
            self.keys.clear();
            self.allchannels = false;
            self.channels.clear();
            self.enabled = false;
            self.sanitize_payload = Some(true);
            self.set_all_commands(false);
        } else if word("clearselectors") {
            // Only the root selector exists.
        } else {
            match op[0] {
                b'>' | b'#' => {
                    let d = self.digest_of(op)?;
                    if !self.passwords.contains(&d) {
                        self.passwords.push(d);
                    }
                    self.nopass = false;
                }
                b'<' | b'!' => {
                    let d = self.digest_of(op)?;
                    let at = self
                        .passwords
                        .iter()
                        .position(|p| *p == d)
                        .ok_or(RuleError::NoSuchPassword)?;
                    self.passwords.remove(at);
                }
                _ => self.apply_selector(op)?,
            }
        }
        Ok(())
    }

    fn digest_of(&self, op: &[u8]) -> Result<Digest, RuleError> {
        let rest = &op[1..];
        if op[0] == b'>' || op[0] == b'<' {
            Ok(sha256::digest(rest))
        } else {
            sha256::from_hex(rest).ok_or(RuleError::BadHash)
        }
    }

    fn apply_selector(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let word = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if word("allkeys") || word("~*") {
            self.allkeys = true;
            self.keys.clear();
        } else if word("resetkeys") {
            self.allkeys = false;
            self.keys.clear();
        } else if word("allchannels") || word("&*") {
            self.allchannels = true;
            self.channels.clear();
        } else if word("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if word("allcommands") || word("+@all") {
            self.set_all_commands(true);
        } else if word("nocommands") || word("-@all") {
            self.set_all_commands(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.allchannels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pat = &op[1..];
            if has_spaces(pat) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pat) {
                self.channels.push(pat.to_vec());
            }
            self.allchannels = false;
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let name = std::str::from_utf8(&op[2..]).map_err(|_| RuleError::UnknownCommand)?;
            let bit = category_bit(name).ok_or(RuleError::UnknownCommand)?;
            self.set_category(bit, op[0] == b'+');
        } else if op[0] == b'+' {
            self.allow_command(&op[1..])?;
        } else if op[0] == b'-' {
            let id = lookup(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(id, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.allkeys {
            return Err(RuleError::KeyAfterAll);
        }
        let (flags, offset) = if op[0] == b'%' {
            let mut flags = 0u8;
            let mut offset = 1;
            while offset < op.len() {
                let c = op[offset];
                if c.eq_ignore_ascii_case(&b'R') && flags & KEY_READ == 0 {
                    flags |= KEY_READ;
                } else if c.eq_ignore_ascii_case(&b'W') && flags & KEY_WRITE == 0 {
                    flags |= KEY_WRITE;
                } else if c == b'~' {
                    offset += 1;
                    break;
                } else {
                    return Err(RuleError::Syntax);
                }
                offset += 1;
            }
            (flags, offset)
        } else {
            (KEY_ALL, 1)
        };
        let pattern = op.get(offset..).unwrap_or_default();
        if has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        match self.keys.iter_mut().find(|k| k.pattern == pattern) {
            Some(k) => k.flags |= flags,
            None => self.keys.push(KeyPattern {
                flags,
                pattern: pattern.to_vec(),
            }),
        }
        self.allkeys = false;
        Ok(())
    }

    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let catalog = Catalog::get();
        let Some(bar) = name.iter().rposition(|&b| b == b'|') else {
            let id = lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(id, true);
            return Ok(());
        };
        let (parent_name, sub) = (&name[..bar], &name[bar + 1..]);
        let parent = lookup(parent_name).ok_or(RuleError::UnknownCommand)?;
        let entry = catalog.entry(parent).ok_or(RuleError::UnknownCommand)?;
        if entry.parent.is_some() {
            return Err(RuleError::SubcommandFirstArg);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !entry.subcommands.is_empty() {
            let id = lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change_perm(id, true);
        } else {
            // `+select|0`: Redis's deprecated first-argument permission.
            let sub = sub.to_ascii_lowercase();
            match self.firstargs.iter_mut().find(|(i, _)| *i == parent) {
                Some((_, list)) => {
                    if !list.contains(&sub) {
                        list.push(sub);
                    }
                }
                None => self.firstargs.push((parent, vec![sub])),
            }
        }
        Ok(())
    }

    pub fn has_command(&self, id: usize) -> bool {
        self.commands
            .get(id / 64)
            .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if let Some(w) = self.commands.get_mut(id / 64) {
            if on {
                *w |= 1u64 << (id % 64);
            } else {
                *w &= !(1u64 << (id % 64));
                self.allcommands = false;
            }
        }
    }

    /// `ACLChangeSelectorPerm`: the command, all its subcommands, and no first-args.
    pub(crate) fn change_perm(&mut self, id: usize, on: bool) {
        self.set_bit(id, on);
        self.firstargs.retain(|(i, _)| *i != id);
        if let Some(e) = Catalog::get().entry(id) {
            for &sub in &e.subcommands {
                self.set_bit(sub, on);
            }
        }
    }

    pub(crate) fn set_category(&mut self, bit: u32, on: bool) {
        let catalog = Catalog::get();
        for id in 0..catalog.len() {
            if catalog.entry(id).is_some_and(|e| e.categories & bit != 0) {
                self.change_perm(id, on);
            }
        }
    }

    pub(crate) fn set_all_commands(&mut self, on: bool) {
        let fill = if on { u64::MAX } else { 0 };
        self.commands.iter_mut().for_each(|w| *w = fill);
        self.allcommands = on;
        self.future_commands = on;
        self.firstargs.clear();
    }

    /// Checks a password against this user (`ACLCheckUserCredentials`): a disabled user
    /// never matches, a `nopass` user always does.
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let d = sha256::digest(password);
        // Every stored digest is compared, so the time does not tell which one matched.
        self.passwords
            .iter()
            .fold(false, |hit, p| sha256::ct_eq(p, &d) | hit)
    }
}

fn lookup(name: &[u8]) -> Option<usize> {
    std::str::from_utf8(name)
        .ok()
        .and_then(|n| Catalog::get().lookup(n))
}

/// Redis refuses spaces and NULs in usernames and patterns.
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| b.is_ascii_whitespace() || b == 0)
}
