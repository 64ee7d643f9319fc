//! Talking to a shard over its Unix socket: PING for readiness, INFO for metrics. A tiny
//! RESP client is enough, since only simple strings, errors and bulk strings come back.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// INFO of a shard is a few KiB; the cap keeps a misbehaving shard from growing the
/// agent's memory.
const MAX_BULK: usize = 1 << 20;
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("shard replied {0:?}")]
    Reply(String),
    #[error("timed out")]
    Timeout,
}

/// A ready shard answers PING with PONG; a loading one with `-LOADING`.
pub async fn ping(socket: &Path, password: Option<&str>) -> Result<(), ProbeError> {
    let replies = exchange(socket, password, &["PING"]).await?;
    match replies.as_slice() {
        [.., Reply::Simple(s)] if s == "PONG" => Ok(()),
        other => Err(ProbeError::Reply(format!("{other:?}"))),
    }
}

/// The text of `INFO` (all default sections); the last reply is INFO's, after AUTH's.
pub async fn info(socket: &Path, password: Option<&str>) -> Result<String, ProbeError> {
    match exchange(socket, password, &["INFO"]).await?.pop() {
        Some(Reply::Bulk(text)) => Ok(text),
        other => Err(ProbeError::Reply(format!("{other:?}"))),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(String),
    Nil,
}

async fn exchange(
    socket: &Path,
    password: Option<&str>,
    command: &[&str],
) -> Result<Vec<Reply>, ProbeError> {
    tokio::time::timeout(PROBE_TIMEOUT, exchange_inner(socket, password, command))
        .await
        .map_err(|_| ProbeError::Timeout)?
}

async fn exchange_inner(
    socket: &Path,
    password: Option<&str>,
    command: &[&str],
) -> Result<Vec<Reply>, ProbeError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(ProbeError::Connect)?;
    let mut stream = BufReader::new(stream);
    let mut out = Vec::new();
    if let Some(pw) = password {
        encode(&mut out, &["AUTH", pw]);
    }
    encode(&mut out, command);
    stream.get_mut().write_all(&out).await?;
    let mut replies = Vec::with_capacity(2);
    if password.is_some() {
        replies.push(read_reply(&mut stream).await?);
    }
    replies.push(read_reply(&mut stream).await?);
    Ok(replies)
}

fn encode(out: &mut Vec<u8>, args: &[&str]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

async fn read_reply<R: AsyncBufReadExt + Unpin>(r: &mut R) -> Result<Reply, ProbeError> {
    let mut line = String::new();
    // Reply header lines are short; a shard that sends an endless one is cut off by the
    // probe timeout, and `take` bounds the buffer meanwhile.
    let n = (&mut *r).take(64 * 1024).read_line(&mut line).await?;
    if n == 0 {
        return Err(ProbeError::Reply("connection closed".into()));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at(line.len().min(1));
    let bad = || ProbeError::Reply(line.to_string());
    match kind {
        "+" => Ok(Reply::Simple(rest.to_string())),
        "-" => Ok(Reply::Error(rest.to_string())),
        ":" => rest.parse().map(Reply::Int).map_err(|_| bad()),
        "$" => {
            let len: i64 = rest.parse().map_err(|_| bad())?;
            if len < 0 {
                return Ok(Reply::Nil);
            }
            let len = usize::try_from(len).map_err(|_| bad())?;
            if len > MAX_BULK {
                return Err(bad());
            }
            let mut buf = vec![0u8; len + 2];
            r.read_exact(&mut buf).await?;
            buf.truncate(len);
            Ok(Reply::Bulk(String::from_utf8_lossy(&buf).into_owned()))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parses_reply_kinds() {
        let input: &[u8] = b"+PONG\r\n-LOADING x\r\n:12\r\n$5\r\nab\r\nc\r\n$-1\r\n*1\r\n";
        let mut r = BufReader::new(input);
        assert_eq!(
            read_reply(&mut r).await.unwrap(),
            Reply::Simple("PONG".into())
        );
        assert_eq!(
            read_reply(&mut r).await.unwrap(),
            Reply::Error("LOADING x".into())
        );
        assert_eq!(read_reply(&mut r).await.unwrap(), Reply::Int(12));
        assert_eq!(
            read_reply(&mut r).await.unwrap(),
            Reply::Bulk("ab\r\nc".into())
        );
        assert_eq!(read_reply(&mut r).await.unwrap(), Reply::Nil);
        assert!(read_reply(&mut r).await.is_err());
        assert!(read_reply(&mut r).await.is_err(), "closed");
    }

    #[test]
    fn encodes_resp_arrays() {
        let mut out = Vec::new();
        encode(&mut out, &["AUTH", "pw"]);
        assert_eq!(out, b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
    }
}
