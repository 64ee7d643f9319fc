//! Runs commands against an in-memory server and decodes the replies, for the hash and
//! set command tests.

use bytes::Bytes;
use shoal_proto::reply::Protocol;
use shoal_proto::Reply;

use crate::client::Client;
use crate::cmd::execute;
use crate::state::Server;
use crate::ShardConfig;

#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Err(String),
    Ok,
    /// Arrays, sets and (flattened) maps, with the type byte that introduced them.
    Agg(u8, Vec<Resp>),
}

impl Resp {
    pub fn items(&self) -> &[Resp] {
        match self {
            Resp::Agg(_, v) => v,
            _ => &[],
        }
    }

    pub fn bulks(&self) -> Vec<Vec<u8>> {
        self.items()
            .iter()
            .filter_map(|r| match r {
                Resp::Bulk(b) => Some(b.clone()),
                _ => None,
            })
            .collect()
    }
}

pub struct Kit {
    pub srv: Server,
    client: Client,
    proto: Protocol,
}

impl Kit {
    pub fn new() -> Kit {
        Kit::with_config(ShardConfig::default())
    }

    pub fn with_config(config: ShardConfig) -> Kit {
        Kit {
            srv: Server::new(config),
            client: Client::new(1, String::new(), String::new(), false, true),
            proto: Protocol::Resp2,
        }
    }

    pub fn resp3(&mut self) {
        self.proto = Protocol::Resp3;
    }

    /// Runs one command given as space-separated words.
    pub fn run(&mut self, cmd: &str) -> Resp {
        let args: Vec<Bytes> = cmd
            .split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut out = Reply::new(self.proto);
        execute(&mut self.srv, &mut self.client, &mut out, &args);
        let (r, rest) = parse(&out.buf);
        assert!(rest.is_empty(), "one reply per command");
        r
    }

    pub fn encoding(&mut self, key: &str) -> &'static str {
        match self.srv.db.peek(key.as_bytes(), 0) {
            Some(e) => e.value.encoding(),
            None => "none",
        }
    }
}

fn line(b: &[u8]) -> (&[u8], &[u8]) {
    let end = b.windows(2).position(|w| w == b"\r\n").unwrap();
    (&b[1..end], &b[end + 2..])
}

fn parse(b: &[u8]) -> (Resp, &[u8]) {
    let (text, rest) = line(b);
    let s = std::str::from_utf8(text).unwrap();
    match b[0] {
        b':' => (Resp::Int(s.parse().unwrap()), rest),
        b'+' => (Resp::Ok, rest),
        b'-' => (Resp::Err(s.to_string()), rest),
        b'_' => (Resp::Null, rest),
        b'$' if s == "-1" => (Resp::Null, rest),
        b'$' => {
            let n: usize = s.parse().unwrap();
            (Resp::Bulk(rest[..n].to_vec()), &rest[n + 2..])
        }
        t @ (b'*' | b'~' | b'%') => {
            let mut n: usize = s.parse().unwrap();
            if t == b'%' {
                n *= 2;
            }
            let mut items = Vec::new();
            let mut rest = rest;
            for _ in 0..n {
                let (r, more) = parse(rest);
                items.push(r);
                rest = more;
            }
            (Resp::Agg(t, items), rest)
        }
        other => panic!("unexpected reply type {}", other as char),
    }
}
