//! SHA-1, for script names (`redis.sha1hex`, EVALSHA): Redis names a script by the SHA-1
//! of its body. Not used for anything that needs collision resistance.

/// The lower-case hex SHA-1 digest of `data`.
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        // The name redis-server 7.0 reported for this script.
        assert_eq!(
            sha1_hex(b"return redis.call('foo')"),
            "cc78c5a793d041f28ab0f6b117a82d1428ccfd13"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(sha1_hex(&long), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
    }
}
