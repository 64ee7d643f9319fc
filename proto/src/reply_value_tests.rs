use super::*;

fn one(buf: &[u8]) -> Value<'_> {
    let (v, n) = decode(buf).expect("valid").expect("complete");
    assert_eq!(n, buf.len(), "consumed the whole frame");
    v
}

/// Every frame decodes to the expected value and encodes back to the same bytes.
#[test]
fn round_trips_every_type() {
    let cases: &[(&[u8], Value<'_>)] = &[
        (b"+OK\r\n", Value::Simple(b"OK")),
        (b"-ERR no\r\n", Value::Error(b"ERR no")),
        (b":-42\r\n", Value::Int(-42)),
        (b"$3\r\na\r\n\r\n", Value::Bulk(b"a\r\n")),
        (b"$0\r\n\r\n", Value::Bulk(b"")),
        (b"$-1\r\n", Value::NullBulk),
        (b"*-1\r\n", Value::NullArray),
        (b"_\r\n", Value::Null),
        (b"*0\r\n", Value::Array(vec![])),
        (b"#t\r\n", Value::Bool(true)),
        (b"#f\r\n", Value::Bool(false)),
        (b",-inf\r\n", Value::Double(b"-inf")),
        (b",1.5e+300\r\n", Value::Double(b"1.5e+300")),
        (
            b"(-123456789012345678901234567890\r\n",
            Value::BigNumber(b"-123456789012345678901234567890"),
        ),
        (b"!5\r\nERR x\r\n", Value::BlobError(b"ERR x")),
        (
            b"=9\r\ntxt:hello\r\n",
            Value::Verbatim {
                format: b"txt",
                text: b"hello",
            },
        ),
        (
            b"*3\r\n:1\r\n$-1\r\n*1\r\n+x\r\n",
            Value::Array(vec![
                Value::Int(1),
                Value::NullBulk,
                Value::Array(vec![Value::Simple(b"x")]),
            ]),
        ),
        (
            b"%2\r\n$1\r\na\r\n:1\r\n+b\r\n~1\r\n_\r\n",
            Value::Map(vec![
                (Value::Bulk(b"a"), Value::Int(1)),
                (Value::Simple(b"b"), Value::Set(vec![Value::Null])),
            ]),
        ),
        (
            b">2\r\n$7\r\nmessage\r\n:3\r\n",
            Value::Push(vec![Value::Bulk(b"message"), Value::Int(3)]),
        ),
        (
            b"|1\r\n+ttl\r\n:3600\r\n:5\r\n",
            Value::Attribute {
                attrs: vec![(Value::Simple(b"ttl"), Value::Int(3600))],
                value: Box::new(Value::Int(5)),
            },
        ),
    ];
    for (bytes, want) in cases {
        let got = one(bytes);
        assert_eq!(&got, want, "{}", String::from_utf8_lossy(bytes));
        assert_eq!(got.to_bytes(), *bytes);
    }
}

#[test]
fn reports_consumed_bytes_and_leaves_the_rest() {
    let buf = b":1\r\n+OK\r\n";
    let (v, n) = decode(buf).unwrap().unwrap();
    assert_eq!((v, n), (Value::Int(1), 4));
    let (v, n) = decode(&buf[4..]).unwrap().unwrap();
    assert_eq!((v, n), (Value::Simple(b"OK"), 5));
}

/// Every strict prefix of a valid frame is incomplete, never an error or a value.
#[test]
fn prefixes_are_incomplete() {
    let frame: &[u8] =
        b"*4\r\n%1\r\n$1\r\nk\r\n,2.5\r\n=8\r\ntxt:abcd\r\n|1\r\n+a\r\n#t\r\n(12\r\n$-1\r\n";
    assert!(decode(frame).unwrap().is_some());
    for cut in 0..frame.len() {
        assert_eq!(decode(&frame[..cut]), Ok(None), "cut at {cut}");
    }
}

#[test]
fn rejects_malformed_frames() {
    let bad: &[&[u8]] = &[
        b"?x\r\n",
        b":12a\r\n",
        b"$-2\r\n",
        b"$3\r\nabcde\r\n",
        b"*-5\r\n",
        b"%-1\r\n",
        b"#x\r\n",
        b"(1.5\r\n",
        b"(\r\n",
        b"_x\r\n",
        b"=2\r\nab\r\n",
        b"+a\rb\r\n",
        b"$99999999999999999999\r\n",
    ];
    for b in bad {
        assert!(decode(b).is_err(), "{}", String::from_utf8_lossy(b));
    }
}

#[test]
fn depth_is_bounded() {
    let deep: Vec<u8> = b"*1\r\n".repeat(100_000);
    assert_eq!(decode(&deep), Err(DecodeError::TooDeep));
    let limits = Limits {
        max_depth: 3,
        max_elements: 100,
    };
    assert!(decode_with(b"*1\r\n*1\r\n*1\r\n:1\r\n", limits).is_ok());
    assert_eq!(
        decode_with(b"*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", limits),
        Err(DecodeError::TooDeep)
    );
}

#[test]
fn element_count_is_bounded_and_headers_do_not_allocate() {
    let limits = Limits {
        max_depth: 8,
        max_elements: 3,
    };
    assert!(decode_with(b"*3\r\n:1\r\n:2\r\n:3\r\n", limits).is_ok());
    assert_eq!(
        decode_with(b"*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", limits),
        Err(DecodeError::TooManyElements)
    );
    // A header claiming billions of elements with nothing behind it is merely incomplete.
    assert_eq!(decode(b"*50000000\r\n:1\r\n"), Ok(None));
    assert_eq!(decode(b"%30000000\r\n"), Ok(None));
    assert_eq!(
        decode(b"*2147483647\r\n"),
        Err(DecodeError::TooManyElements)
    );
    assert_eq!(
        decode(b"*9223372036854775807\r\n"),
        Err(DecodeError::TooManyElements)
    );
}

#[test]
fn helpers() {
    let v = one(b"*2\r\n$1\r\na\r\n-ERR x\r\n");
    let items = v.items().unwrap();
    assert_eq!(items[0].as_bytes(), Some(&b"a"[..]));
    assert!(items[1].is_error());
    assert!(one(b"_\r\n").is_null());
    assert!(one(b"$-1\r\n").is_null());
    assert!(!one(b":0\r\n").is_null());
}

/// Arbitrary bytes never panic, and whatever decodes re-encodes to the bytes it consumed
/// (modulo integer spellings such as `:+1` or `:01`, which are normalised).
#[test]
fn random_input_never_panics() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = b"*$%~>|:+-_#,(=!\r\n0123456789-txt:abc";
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 40) as usize;
        let mut buf = Vec::with_capacity(len);
        let mut s = seed;
        for _ in 0..len {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            buf.push(alphabet[(s >> 33) as usize % alphabet.len()]);
        }
        if let Ok(Some((v, n))) = decode(&buf) {
            assert!(n <= buf.len());
            let again = v.to_bytes();
            let (v2, n2) = decode(&again).unwrap().unwrap();
            assert_eq!(v2, v);
            assert_eq!(n2, again.len());
        }
    }
}
