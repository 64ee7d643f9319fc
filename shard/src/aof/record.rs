//! Records: each command is a RESP multibulk, exactly what a client sends, so Redis and its
//! tools read shoal's files. After each group-commit batch the writer adds one annotation line,
//! `#CRC:<crc32c of the batch, 8 lowercase hex digits>\r\n`, covering every byte since the
//! previous annotation (or the start of the file). Redis skips lines that start with `#`.

use bytes::{BufMut, BytesMut};

/// Length of an annotation line: `#CRC:` + 8 hex digits + CRLF.
pub const ANNOTATION_LEN: usize = 5 + 8 + 2;
const PREFIX: &[u8] = b"#CRC:";

/// Appends `args` as a RESP multibulk. Returns the number of bytes written.
pub fn encode_command<A: AsRef<[u8]>>(buf: &mut BytesMut, args: &[A]) -> usize {
    let start = buf.len();
    let mut num = itoa::Buffer::new();
    let body: usize = args.iter().map(|a| a.as_ref().len() + 24).sum();
    buf.reserve(body + 16);
    buf.put_u8(b'*');
    buf.put_slice(num.format(args.len()).as_bytes());
    buf.put_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        buf.put_u8(b'$');
        buf.put_slice(num.format(arg.len()).as_bytes());
        buf.put_slice(b"\r\n");
        buf.put_slice(arg);
        buf.put_slice(b"\r\n");
    }
    buf.len() - start
}

/// Appends the annotation line for a batch whose crc32c is `crc`.
pub fn encode_annotation(buf: &mut BytesMut, crc: u32) {
    buf.put_slice(PREFIX);
    buf.put_slice(format!("{crc:08x}").as_bytes());
    buf.put_slice(b"\r\n");
}

/// What a `#` line at a record boundary is.
#[derive(Debug, PartialEq, Eq)]
pub enum Annotation {
    /// A well-formed `#CRC:` line carrying this checksum.
    Crc(u32),
    /// Starts with `#CRC:` but is not 8 lowercase hex digits then CRLF: corruption.
    MalformedCrc,
    /// Any other comment line (Redis writes `#TS:` lines); skipped, and counted in the batch.
    Other,
}

/// Classifies one complete `#` line, including its line ending.
pub fn parse_annotation(line: &[u8]) -> Annotation {
    let Some(rest) = line.strip_prefix(PREFIX) else {
        return Annotation::Other;
    };
    if rest.len() != 10 || &rest[8..] != b"\r\n" {
        return Annotation::MalformedCrc;
    }
    let mut crc = 0u32;
    for &c in &rest[..8] {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return Annotation::MalformedCrc,
        };
        crc = crc << 4 | d as u32;
    }
    Annotation::Crc(crc)
}

/// Running checksum of the bytes since the last annotation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCrc {
    pub crc: u32,
    pub len: u64,
}

impl BatchCrc {
    pub fn update(&mut self, bytes: &[u8]) {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.len += bytes.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_resp_multibulk() {
        let mut b = BytesMut::new();
        let n = encode_command(&mut b, &[&b"SET"[..], b"k", b""]);
        assert_eq!(&b[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        assert_eq!(n, b.len());
    }

    #[test]
    fn commands_of_every_length_round_trip_through_the_request_parser() {
        let lens = [
            0usize, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345, 100_000,
        ];
        for count in [1usize, 2, 9, 10, 11, 120] {
            let args: Vec<Vec<u8>> = (0..count)
                .map(|i| vec![b'a' + (i % 26) as u8; lens[i % lens.len()]])
                .collect();
            let mut b = BytesMut::new();
            let n = encode_command(&mut b, &args);
            assert_eq!(n, b.len());
            let mut parser = shoal_proto::RequestParser::new();
            let got = parser.next(&mut b).unwrap().unwrap();
            assert!(b.is_empty(), "{count} args: trailing bytes");
            assert_eq!(got.len(), count);
            for (g, a) in got.iter().zip(&args) {
                assert_eq!(&g[..], &a[..]);
            }
        }
    }

    #[test]
    fn annotation_round_trips() {
        let mut b = BytesMut::new();
        encode_annotation(&mut b, 0x00ab_cdef);
        assert_eq!(&b[..], b"#CRC:00abcdef\r\n");
        assert_eq!(b.len(), ANNOTATION_LEN);
        assert_eq!(parse_annotation(&b), Annotation::Crc(0x00ab_cdef));
        assert_eq!(
            parse_annotation(b"#CRC:00ABCDEF\r\n"),
            Annotation::MalformedCrc
        );
        assert_eq!(parse_annotation(b"#CRC:0\r\n"), Annotation::MalformedCrc);
        assert_eq!(parse_annotation(b"#TS:1700000000\r\n"), Annotation::Other);
    }

    #[test]
    fn batch_crc_is_crc32c_of_concatenation() {
        let mut c = BatchCrc::default();
        c.update(b"*1\r\n$4\r\nPING\r\n");
        c.update(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            c.crc,
            crc32c::crc32c(b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n")
        );
        assert_eq!(c.len, 28);
        // The standard crc32c check value, so other tools can verify our files.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }
}
