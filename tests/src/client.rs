//! A raw RESP client: writes whatever bytes a test wants and reads back exactly one
//! reply at a time, keeping its bytes for exact comparison.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use crate::resp::{self, escape, Reply};

/// Long enough for a debug build under load, short enough that a hung server fails
/// the test instead of the CI job.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One reply: its exact bytes and its parsed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub raw: Vec<u8>,
    pub reply: Reply,
}

impl Frame {
    /// The raw reply as one readable line.
    pub fn escaped(&self) -> String {
        escape(&self.raw)
    }
}

pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub fn connect(port: u16) -> io::Result<RawClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(RawClient {
            stream,
            buf: Vec::new(),
        })
    }

    /// Writes `bytes` as they are (inline commands, broken frames, pipelines …).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends one command as a multibulk.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.write_raw(&resp::encode_command(args))
    }

    /// Sends one command and reads its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Frame> {
        self.send(args)?;
        self.read_reply()
    }

    /// Like [`RawClient::call`], panicking on I/O errors, for terse tests.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        match self.call(args) {
            Ok(f) => f.reply,
            Err(e) => panic!("{}: {e}", describe(args)),
        }
    }

    /// Reads exactly one reply. EOF before a whole reply is `UnexpectedEof`.
    pub fn read_reply(&mut self) -> io::Result<Frame> {
        loop {
            match resp::parse(&self.buf) {
                Ok(Some((reply, n))) => {
                    let raw: Vec<u8> = self.buf.drain(..n).collect();
                    return Ok(Frame { raw, reply });
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed; unparsed: {}", escape(&self.buf)),
                ));
            }
        }
    }

    /// Waits for the server to close the connection; any bytes it sends first are an
    /// error.
    pub fn expect_eof(&mut self) -> io::Result<()> {
        loop {
            if !self.buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("expected EOF, got {}", escape(&self.buf)),
                ));
            }
            match self.fill() {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                // A reset after the server closed with unread input is a close too.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Closes the writing half, as a client that has sent everything does.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}

/// A command as one readable line: arguments escaped, quoted when needed.
pub fn describe<A: AsRef<[u8]>>(args: &[A]) -> String {
    args.iter()
        .map(|a| {
            let a = a.as_ref();
            let e = escape(a);
            if a.is_empty() || e.len() != a.len() || a.contains(&b' ') {
                format!("\"{e}\"")
            } else {
                e
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
