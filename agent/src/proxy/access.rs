//! A database's users and client limits together: the few calls the client loop makes,
//! one per step (accept, each command, AUTH/ACL, each read, each write, idle).

use std::net::IpAddr;
use std::sync::Arc;

use shoal_proto::CommandSpec;

use super::acl::{self, Acl, Session};
use super::limits::{ClientSlot, Limits, DENIED, MAX_CLIENTS};

pub struct Access {
    pub acl: Acl,
    pub limits: Arc<Limits>,
}

/// What the client loop does with a refused command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Reply with this error line (no `-`, no CRLF) and go on.
    Error(String),
    /// Close the connection without a reply (its user was deleted).
    Close,
}

impl Access {
    pub fn new(db: &shoal_config::Database) -> Result<Access, acl::UserConfigError> {
        Ok(Access {
            acl: acl::from_database(db)?,
            limits: Limits::new(&db.limits),
        })
    }

    /// At accept: a `maxclients` place and protected mode. `peer = None` for a Unix
    /// socket. `Err` holds the bytes to write before closing.
    pub fn accept(&self, peer: Option<IpAddr>) -> Result<ClientSlot, &'static [u8]> {
        if self
            .limits
            .protected_mode_denies(self.acl.default_is_open(), peer)
        {
            return Err(DENIED);
        }
        self.limits.try_connect().ok_or(MAX_CLIENTS)
    }

    /// Before each command; refusals other than `NOAUTH` go to `ACL LOG`.
    pub fn admit(
        &self,
        s: &mut Session,
        spec: &CommandSpec,
        args: &[&[u8]],
        multi: bool,
        client_info: impl FnOnce() -> String,
    ) -> Result<(), Verdict> {
        match self.acl.admit(s, spec, args) {
            Ok(()) => Ok(()),
            Err(r) => {
                self.acl.log_refusal(s, r, spec, args, multi, client_info());
                match r.message(spec) {
                    Some(m) => Err(Verdict::Error(m)),
                    None => Err(Verdict::Close),
                }
            }
        }
    }

    /// The frame scanner's pre-AUTH mode (10 arguments, 16 KiB bulks) and the query
    /// buffer bound that goes with it.
    pub fn read_limits(&self, s: &Session) -> (bool, usize) {
        let auth_required = self.acl.auth_required(s);
        (auth_required, self.limits.query_buffer_limit(auth_required))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(toml: &str) -> Access {
        let c = shoal_config::Config::from_raw(shoal_config::RawConfig::from_toml(toml).unwrap())
            .unwrap();
        Access::new(&c.databases[0]).unwrap()
    }

    #[test]
    fn accept_applies_protected_mode_then_maxclients() {
        let a = access("[[database]]\nmaxclients = 1");
        let remote: Option<IpAddr> = Some("10.1.2.3".parse().unwrap());
        assert_eq!(a.accept(remote).unwrap_err(), DENIED);
        let slot = a.accept(Some("127.0.0.1".parse().unwrap())).unwrap();
        assert_eq!(a.accept(None).unwrap_err(), MAX_CLIENTS);
        drop(slot);
        assert!(a.accept(None).is_ok());
        let with_password = access("[[database]]\npassword = \"pw\"");
        assert!(with_password.accept(remote).is_ok());
    }

    #[test]
    fn admit_gives_texts_and_logs() {
        let a = access(
            "[[database]]\npassword = \"pw\"\n[[database.user]]\nname = \"ro\"\nrules = \"on nopass ~* +@read\"",
        );
        let mut s = a.acl.session();
        assert_eq!(a.read_limits(&s), (true, 1024 * 1024));
        let get: Vec<&[u8]> = vec![b"get", b"k"];
        let spec = shoal_proto::command::lookup(b"get").unwrap();
        assert_eq!(
            a.admit(&mut s, spec, &get, false, String::new),
            Err(Verdict::Error("NOAUTH Authentication required.".into()))
        );
        a.acl.authenticate(&mut s, b"ro", b"x").unwrap();
        assert_eq!(a.read_limits(&s), (false, 1024 * 1024 * 1024));
        assert_eq!(a.admit(&mut s, spec, &get, false, String::new), Ok(()));
        let set: Vec<&[u8]> = vec![b"set", b"k", b"v"];
        let spec = shoal_proto::command::lookup(b"set").unwrap();
        assert_eq!(
            a.admit(&mut s, spec, &set, true, || "id=9".into()),
            Err(Verdict::Error(
                "NOPERM this user has no permissions to run the 'set' command".into()
            ))
        );
        assert_eq!(a.acl.log.len(), 1, "NOAUTH is not logged, NOPERM is");
    }
}
