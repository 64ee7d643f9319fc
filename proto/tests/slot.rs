//! Property tests of hash slots: the `{hash tag}` rules of Redis Cluster, the slot range,
//! and CRC16 against known vectors and a table-driven reference.

use proptest::prelude::*;
use shoal_proto::slot::{crc16, key_hash_slot, SLOT_COUNT};

/// CRC16-CCITT (XMODEM) computed with a lookup table, written independently of the
/// bitwise version under test.
fn crc16_table(data: &[u8]) -> u16 {
    let mut table = [0u16; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut c = (i as u16) << 8;
        for _ in 0..8 {
            c = if c & 0x8000 != 0 {
                (c << 1) ^ 0x1021
            } else {
                c << 1
            };
        }
        *slot = c;
    }
    data.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ table[((crc >> 8) as u8 ^ b) as usize]
    })
}

#[test]
fn known_vectors() {
    // The CRC16 check value, and slots as a Redis 7.0 `CLUSTER KEYSLOT` gave them.
    assert_eq!(crc16(b"123456789"), 0x31C3);
    let vectors: &[(&[u8], u16)] = &[
        (b"foo", 12182),
        (b"bar", 5061),
        (b"{user1000}.following", 3443),
        (b"{user1000}.followers", 3443),
        (b"foo{}{bar}", 8363),
        (b"foo{{bar}}zap", 4015),
        (b"foo{bar}{zap}", 5061),
        (b"{}", 15257),
        (b"{", 4092),
        (b"}", 12090),
        (b"", 0),
        (b"a{b", 13340),
        (b"123456789", 12739),
        (b"{123456789}x", 12739),
        (b"user:{42}:name", 8000),
        (b"{{}}", 4092),
    ];
    for &(key, slot) in vectors {
        assert_eq!(key_hash_slot(key), slot, "{}", String::from_utf8_lossy(key));
    }
}

/// Bytes with no `{` (a key prefix before the tag opens).
fn no_open() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>().prop_filter("no {", |&b| b != b'{'), 0..24)
}

/// Bytes with no `}`; a tag when not empty.
fn no_close(min: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>().prop_filter("no }", |&b| b != b'}'), min..24)
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn slot_is_in_range(key in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert!(key_hash_slot(&key) < SLOT_COUNT);
    }

    #[test]
    fn crc16_matches_the_table_version(data in prop::collection::vec(any::<u8>(), 0..256)) {
        prop_assert_eq!(crc16(&data), crc16_table(&data));
    }

    #[test]
    fn keys_without_a_tag_hash_whole(key in no_open()) {
        prop_assert_eq!(key_hash_slot(&key), crc16(&key) % SLOT_COUNT);
    }

    #[test]
    fn keys_sharing_a_tag_share_a_slot(
        tag in no_close(1), pa in no_open(), pb in no_open(), sa in any_bytes(), sb in any_bytes()
    ) {
        let key = |p: &[u8], s: &[u8]| [p, b"{", &tag, b"}", s].concat();
        let (a, b) = (key(&pa, &sa), key(&pb, &sb));
        prop_assert_eq!(key_hash_slot(&a), key_hash_slot(&b));
        prop_assert_eq!(key_hash_slot(&a), crc16(&tag) % SLOT_COUNT);
    }

    #[test]
    fn an_empty_tag_hashes_the_whole_key(prefix in no_open(), rest in any_bytes()) {
        let key = [&prefix[..], b"{}", &rest].concat();
        prop_assert_eq!(key_hash_slot(&key), crc16(&key) % SLOT_COUNT);
    }

    #[test]
    fn an_unclosed_brace_hashes_the_whole_key(prefix in no_open(), rest in no_close(0)) {
        let key = [&prefix[..], b"{", &rest].concat();
        prop_assert_eq!(key_hash_slot(&key), crc16(&key) % SLOT_COUNT);
    }
}
