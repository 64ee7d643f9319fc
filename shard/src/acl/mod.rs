//! Users and permissions of one database: `AUTH`, the `ACL` command, and the check run
//! before a command. The agent's proxy enforces them for its clients; a shard enforces the
//! same users on its own TCP port (`cluster_api`), where clients reach it directly. The
//! shard's Unix socket, which only the agent reaches, skips the check: the proxy has
//! already made it.
//!
//! Each database has its own [`Acl`]: its `default` user (`nopass`, or the configured
//! `password` as Redis's `requirepass`) and the users from `[[database.user]]` and
//! `ACL SETUSER`. A connection holds a [`Session`]: the user it runs as and whether it has
//! authenticated. The check for a user with every permission (the common case) is one
//! atomic load and a flag test.
//!
//! # Layout
//! - [`catalog`]: command ids and category bits, from the command table.
//! - [`user`]: a user and the `ACL SETUSER` rules.
//! - [`check`]: the per-command check and the `NOPERM` texts.
//! - [`describe`]: a user as rules again (`ACL LIST`, `ACL GETUSER`).
//! - [`command`]: the `ACL` subcommands and `AUTH`.
//! - [`log`]: `ACL LOG`, the recent denials.
//! - [`sha256`]: password digests and their constant-time comparison.

pub mod catalog;
pub mod check;
pub mod command;
pub mod describe;
pub mod log;
pub mod sha256;
pub mod user;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use shoal_proto::command::{CommandSpec, Flags};

pub use check::Denied;
pub use user::User;

pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";

/// The users of one database.
#[derive(Debug)]
pub struct Acl {
    /// Sorted by name, the order `ACL USERS` and `ACL LIST` show.
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    /// Bumped by every change, so a session notices (one load per command) that its user
    /// must be looked up again.
    generation: AtomicU64,
    pub log: log::AclLog,
}

/// The refusal of a connection from outside while protected mode is on and the
/// `default` user has no password (Redis's exact text).
pub const DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode (Redis's `clientAcceptHandler` check): with it on and no password for
/// `default`, only loopback clients (and Unix sockets, `peer = None`) are served.
pub fn protected_mode_denies(
    enabled: bool,
    default_has_no_password: bool,
    peer: Option<std::net::IpAddr>,
) -> bool {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    if !enabled || !default_has_no_password {
        return false;
    }
    match peer {
        None => false,
        Some(IpAddr::V4(a)) => a != Ipv4Addr::LOCALHOST,
        Some(IpAddr::V6(a)) => {
            a != Ipv6Addr::LOCALHOST && a.to_ipv4_mapped() != Some(Ipv4Addr::LOCALHOST)
        }
    }
}

/// The environment variable that carries a database's users to its shards: one user a
/// line, `name rule rule ...`. Rules hold passwords, so they stay off the command line.
pub const USERS_ENV: &str = "SHOAL_SHARD_USERS";

/// Users as [`USERS_ENV`] carries them. A rule string is split on whitespace anyway, so
/// folding its line breaks into spaces keeps its meaning.
pub fn encode_users(users: &[(String, String)]) -> String {
    let mut out = String::new();
    for (name, rules) in users {
        out.push_str(name);
        for r in rules.split_ascii_whitespace() {
            out.push(' ');
            out.push_str(r);
        }
        out.push('\n');
    }
    out
}

/// The inverse of [`encode_users`].
pub fn decode_users(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let (name, rules) = l.split_once(' ').unwrap_or((l, ""));
            (!name.is_empty()).then(|| (name.to_string(), rules.trim().to_string()))
        })
        .collect()
}

/// One connection's identity.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: Arc<User>,
    pub authenticated: bool,
    seen: u64,
}

/// Why a command may not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `-NOAUTH`: a password is required and the client has not given it.
    NoAuth,
    Denied(Denied),
    /// The session's user was deleted: Redis closes its connections.
    UserGone,
}

impl Refusal {
    /// The error line (without `-`); `None` for [`Refusal::UserGone`], which closes the
    /// connection without a reply.
    pub fn message(&self, spec: &CommandSpec) -> Option<String> {
        match self {
            Refusal::NoAuth => Some(NOAUTH.to_string()),
            Refusal::Denied(d) => Some(d.message(spec)),
            Refusal::UserGone => None,
        }
    }
}

/// A `[[database.user]]` rule string that does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user {user:?}: rule '{rule}': {message}")]
pub struct UserConfigError {
    /// Position in the database's `[[database.user]]` list.
    pub index: usize,
    pub user: String,
    pub rule: String,
    pub message: String,
}

impl Acl {
    /// The `default` user (with `password` as requirepass), then each configured user's
    /// rules, split on whitespace, applied to a new user (or to `default`).
    pub fn new(password: Option<&str>, users: &[(String, String)]) -> Result<Acl, UserConfigError> {
        let acl = Acl::default_only(password);
        {
            let mut map = acl.write();
            for (index, (name, rules)) in users.iter().enumerate() {
                let bad = |rule: &str, message: String| UserConfigError {
                    index,
                    user: name.clone(),
                    rule: rule.to_string(),
                    message,
                };
                if name.is_empty() || user::has_spaces(name.as_bytes()) {
                    return Err(bad(
                        "",
                        "Usernames can't contain spaces or null characters".into(),
                    ));
                }
                let mut u = map
                    .get(name.as_bytes())
                    .map(|u| User::clone(u))
                    .unwrap_or_else(|| User::new(name.as_bytes()));
                u.apply_all(rules.split_ascii_whitespace().map(str::as_bytes))
                    .map_err(|(rule, e)| bad(&rule, e.to_string()))?;
                map.insert(name.as_bytes().to_vec(), Arc::new(u));
            }
        }
        Ok(acl)
    }

    /// Only the `default` user, with `password` as requirepass.
    pub fn default_only(password: Option<&str>) -> Acl {
        let mut map = BTreeMap::new();
        let default = User::default_user(password.map(str::as_bytes));
        map.insert(b"default".to_vec(), Arc::new(default));
        Acl {
            users: RwLock::new(map),
            generation: AtomicU64::new(0),
            log: log::AclLog::default(),
        }
    }

    /// `CONFIG SET requirepass`: the `default` user's passwords become this one, or
    /// `nopass` when it is `None` (Redis's `ACLUpdateDefaultUserPassword`).
    pub fn set_default_password(&self, password: Option<&[u8]>) {
        let mut users = self.write();
        let mut d = users
            .get(&b"default"[..])
            .map(|u| User::clone(u))
            .unwrap_or_else(|| User::default_user(None));
        d.passwords.clear();
        match password {
            Some(p) => {
                d.passwords.push(sha256::digest(p));
                d.nopass = false;
            }
            None => d.nopass = true,
        }
        users.insert(b"default".to_vec(), Arc::new(d));
        drop(users);
        self.changed();
    }

    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        self.read().get(name).cloned()
    }

    fn default_user(&self) -> Arc<User> {
        self.user(b"default")
            .unwrap_or_else(|| Arc::new(User::default_user(None)))
    }

    /// A new connection runs as `default`, already authenticated when `default` needs no
    /// password.
    pub fn session(&self) -> Session {
        let seen = self.generation.load(Ordering::Acquire);
        let user = self.default_user();
        Session {
            authenticated: user.nopass && user.enabled,
            user,
            seen,
        }
    }

    /// True while the session must still authenticate (Redis's `authRequired`).
    pub fn auth_required(&self, s: &Session) -> bool {
        if s.authenticated {
            return false;
        }
        let d = self.default_user();
        !d.nopass || !d.enabled
    }

    /// Whether the `default` user has no password: what protected mode looks at.
    pub fn default_is_open(&self) -> bool {
        self.default_user().nopass
    }

    /// The check before a command runs. `spec` is the subcommand's spec for container
    /// commands.
    /// True when [`admit`](Self::admit) would let `s` run anything, whatever its
    /// arguments: an authenticated (or password-free) session of an unrestricted user whose
    /// definition has not changed. Callers skip gathering the arguments then, on every
    /// command of the common deployment.
    pub fn admits_anything(&self, s: &Session) -> bool {
        s.seen == self.generation.load(Ordering::Acquire)
            && s.user.unrestricted()
            && !self.auth_required(s)
    }

    pub fn admit(
        &self,
        s: &mut Session,
        spec: &CommandSpec,
        args: &[&[u8]],
    ) -> Result<(), Refusal> {
        let now = self.generation.load(Ordering::Acquire);
        if now != s.seen {
            s.seen = now;
            match self.user(&s.user.name) {
                Some(u) => s.user = u,
                None => return Err(Refusal::UserGone),
            }
        }
        if !s.authenticated && !spec.flags.has(Flags::NO_AUTH) && self.auth_required(s) {
            return Err(Refusal::NoAuth);
        }
        check::check(&s.user, spec, args).map_err(Refusal::Denied)
    }

    /// Records a refusal for `ACL LOG` (not `NOAUTH`, which Redis does not log).
    /// `multi`: the command was being queued in a transaction.
    pub fn log_refusal(
        &self,
        s: &Session,
        r: Refusal,
        spec: &CommandSpec,
        args: &[&[u8]],
        multi: bool,
        client_info: String,
    ) {
        let Refusal::Denied(d) = r else { return };
        let object = match d {
            Denied::Command => spec.name.as_bytes(),
            Denied::Key(i) | Denied::Channel(i) => args.get(i).copied().unwrap_or_default(),
        };
        self.log
            .add(d.into(), multi, object, &s.user.name, client_info);
    }

    /// `AUTH`/`HELLO AUTH`: on success the session runs as `name`.
    pub fn authenticate(
        &self,
        s: &mut Session,
        name: &[u8],
        password: &[u8],
    ) -> Result<(), &'static str> {
        match self.user(name) {
            Some(u) if u.password_ok(password) => {
                s.user = u;
                s.authenticated = true;
                s.seen = self.generation.load(Ordering::Acquire);
                Ok(())
            }
            Some(_) => Err(WRONGPASS),
            None => {
                // Hash anyway, so an unknown name takes as long as a wrong password.
                std::hint::black_box(sha256::digest(password));
                Err(WRONGPASS)
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, Arc<User>>> {
        // A writer cannot panic while holding the lock (it only swaps maps), so a poisoned
        // lock still guards consistent data.
        self.users.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Vec<u8>, Arc<User>>> {
        self.users.write().unwrap_or_else(|e| e.into_inner())
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
