//! `shoal health`: asks the local agent's admin port whether it is ready (or live), for a
//! container HEALTHCHECK in an image that has no shell or curl. Exit 0 when healthy,
//! 1 otherwise, as Docker expects:
//! `HEALTHCHECK --interval=10s CMD ["shoal", "health"]`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("{addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}: no address")]
    NoAddress(String),
    #[error("unexpected reply {0:?}")]
    BadReply(String),
}

/// Returns the HTTP status and the body.
pub fn check(
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), HealthError> {
    let target = format!("{host}:{port}");
    let io = |source| HealthError::Io {
        addr: target.clone(),
        source,
    };
    let addr: SocketAddr = target
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| HealthError::NoAddress(target.clone()))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).map_err(io)?;
    let mut buf = Vec::new();
    // /readyz answers are a few lines; the cap only guards against a wrong port.
    stream.take(64 * 1024).read_to_end(&mut buf).map_err(io)?;
    parse_response(&String::from_utf8_lossy(&buf))
}

fn parse_response(text: &str) -> Result<(u16, String), HealthError> {
    let bad = || HealthError::BadReply(text.chars().take(80).collect());
    let status_line = text.lines().next().ok_or_else(bad)?;
    let mut parts = status_line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => {
            let code = code.parse().map_err(|_| bad())?;
            let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
            Ok((code, body.to_string()))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let (code, body) =
            parse_response("HTTP/1.1 503 Service Unavailable\r\nA: b\r\n\r\nnot ready\n").unwrap();
        assert_eq!((code, body.as_str()), (503, "not ready\n"));
        assert!(parse_response("SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse_response("").is_err());
    }
}
