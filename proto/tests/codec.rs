//! Property tests of the codec: requests encoded as a client would (multibulk, inline,
//! pipelined, cut anywhere) parse back to the same arguments, and replies encoded in
//! RESP2 and RESP3 parse back to the value that was written.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use shoal_proto::request::split_args;
use shoal_proto::{Protocol, Reply, RequestParser};

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses `input` fed in two pieces, cut at `cut`.
fn parse_cut(input: &[u8], cut: usize) -> Vec<Vec<Bytes>> {
    let mut p = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let cut = cut.min(input.len());
    for piece in [&input[..cut], &input[cut..]] {
        buf.extend_from_slice(piece);
        while let Some(req) = p.next(&mut buf).expect("a valid request") {
            out.push(req);
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    out
}

fn args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..12)
}

/// A reply as the encoder is asked to write it, in RESP3 terms.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    NullArray,
    Double(f64),
    Bool(bool),
    Array(Vec<V>),
    Set(Vec<V>),
    Push(Vec<V>),
    Map(Vec<(V, V)>),
}

fn line_text() -> impl Strategy<Value = String> {
    // Simple strings and errors cannot carry CR or LF.
    "[a-zA-Z0-9 _.:-]{0,20}"
}

fn value() -> impl Strategy<Value = V> {
    let leaf = prop_oneof![
        line_text().prop_map(V::Simple),
        line_text().prop_map(|s| V::Error(format!("ERR {s}"))),
        any::<i64>().prop_map(V::Int),
        prop::collection::vec(any::<u8>(), 0..32).prop_map(V::Bulk),
        Just(V::Null),
        Just(V::NullArray),
        prop_oneof![
            any::<f64>(),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.1),
            Just(-0.0)
        ]
        .prop_map(V::Double),
        any::<bool>().prop_map(V::Bool),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(V::Array),
            prop::collection::vec(inner.clone(), 0..6).prop_map(V::Set),
            prop::collection::vec(inner.clone(), 0..6).prop_map(V::Push),
            prop::collection::vec((inner.clone(), inner), 0..4).prop_map(V::Map),
        ]
    })
}

fn encode(v: &V, r: &mut Reply) {
    match v {
        V::Simple(s) => r.simple(s),
        V::Error(s) => r.error(s),
        V::Int(n) => r.int(*n),
        V::Bulk(b) => r.bulk(b),
        V::Null => r.null(),
        V::NullArray => r.null_array(),
        V::Double(d) => r.double(*d),
        V::Bool(b) => r.boolean(*b),
        V::Array(items) | V::Set(items) | V::Push(items) => {
            match v {
                V::Array(_) => r.array(items.len()),
                V::Set(_) => r.set(items.len()),
                _ => r.push(items.len()),
            }
            for i in items {
                encode(i, r);
            }
        }
        V::Map(pairs) => {
            r.map(pairs.len());
            for (k, val) in pairs {
                encode(k, r);
                encode(val, r);
            }
        }
    }
}

/// What a RESP2 client reads for `v`: Redis's degradations of the RESP3 types.
fn as_resp2(v: &V) -> V {
    match v {
        V::Double(d) => V::Bulk(shoal_proto::number::fmt_g17(*d).into_bytes()),
        V::Bool(b) => V::Int(*b as i64),
        V::Array(items) | V::Set(items) | V::Push(items) => {
            V::Array(items.iter().map(as_resp2).collect())
        }
        V::Map(pairs) => V::Array(
            pairs
                .iter()
                .flat_map(|(k, val)| [as_resp2(k), as_resp2(val)])
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a RESP3 client reads for `v`: both nulls are `_`.
fn as_resp3(v: &V) -> V {
    match v {
        V::NullArray => V::Null,
        V::Array(items) => V::Array(items.iter().map(as_resp3).collect()),
        V::Set(items) => V::Set(items.iter().map(as_resp3).collect()),
        V::Push(items) => V::Push(items.iter().map(as_resp3).collect()),
        V::Map(pairs) => V::Map(
            pairs
                .iter()
                .map(|(k, val)| (as_resp3(k), as_resp3(val)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Parses one reply frame; the reply parser a client would use, written for this test.
fn parse(b: &[u8], resp3: bool) -> Option<(V, usize)> {
    let end = b.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&b[1..end]).ok()?;
    let mut p = end + 2;
    let items = |n: usize, b: &[u8], p: &mut usize| -> Option<Vec<V>> {
        let mut out = Vec::new();
        for _ in 0..n {
            let (v, len) = parse(&b[*p..], resp3)?;
            out.push(v);
            *p += len;
        }
        Some(out)
    };
    let v = match b[0] {
        b'+' => V::Simple(head.to_string()),
        b'-' => V::Error(head.to_string()),
        b':' => V::Int(head.parse().ok()?),
        b'_' if resp3 => V::Null,
        b'#' if resp3 => V::Bool(head == "t"),
        b',' if resp3 => V::Double(match head {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => other.parse().ok()?,
        }),
        b'$' if head == "-1" => V::Null,
        b'*' if head == "-1" => V::NullArray,
        b'$' => {
            let n: usize = head.parse().ok()?;
            let data = b.get(p..p + n)?.to_vec();
            (b.get(p + n..p + n + 2)? == b"\r\n").then_some(())?;
            p += n + 2;
            V::Bulk(data)
        }
        b'*' => V::Array(items(head.parse().ok()?, b, &mut p)?),
        b'~' if resp3 => V::Set(items(head.parse().ok()?, b, &mut p)?),
        b'>' if resp3 => V::Push(items(head.parse().ok()?, b, &mut p)?),
        b'%' if resp3 => {
            let flat = items(head.parse::<usize>().ok()? * 2, b, &mut p)?;
            let mut pairs = Vec::new();
            let mut it = flat.into_iter();
            while let (Some(k), Some(val)) = (it.next(), it.next()) {
                pairs.push((k, val));
            }
            V::Map(pairs)
        }
        _ => return None,
    };
    Some((v, p))
}

/// Equality that treats NaN as equal to NaN, as a round trip must.
fn same(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::Double(x), V::Double(y)) => x == y || (x.is_nan() && y.is_nan()),
        (V::Array(x), V::Array(y)) | (V::Set(x), V::Set(y)) | (V::Push(x), V::Push(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (V::Map(x), V::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn multibulk_round_trips_cut_anywhere(reqs in prop::collection::vec(args(), 1..5), cut in any::<usize>()) {
        let wire: Vec<u8> = reqs.iter().flat_map(|r| multibulk(r)).collect();
        let got = parse_cut(&wire, cut % (wire.len() + 1));
        let got: Vec<Vec<Vec<u8>>> =
            got.iter().map(|r| r.iter().map(|a| a.to_vec()).collect()).collect();
        prop_assert_eq!(got, reqs);
    }

    #[test]
    fn inline_quoted_round_trips(args in args()) {
        // Every byte escaped inside double quotes, as redis-cli may send it.
        let line: Vec<String> = args
            .iter()
            .map(|a| format!("\"{}\"", a.iter().map(|b| format!("\\x{b:02x}")).collect::<String>()))
            .collect();
        prop_assert_eq!(split_args(line.join(" ").as_bytes()), Some(args.clone()));
        let wire = format!("{}\r\n", line.join(" "));
        let got = parse_cut(wire.as_bytes(), 0);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(got[0].iter().map(|a| a.to_vec()).collect::<Vec<_>>(), args);
    }

    #[test]
    fn inline_plain_round_trips(words in prop::collection::vec("[a-zA-Z0-9_:.-]{1,12}", 1..8)) {
        let wire = format!("{}\r\n", words.join(" "));
        let got = parse_cut(wire.as_bytes(), wire.len() / 2);
        prop_assert_eq!(got.len(), 1);
        let got: Vec<String> =
            got[0].iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        prop_assert_eq!(got, words);
    }

    #[test]
    fn replies_round_trip_in_resp3(v in value()) {
        let mut r = Reply::new(Protocol::Resp3);
        encode(&v, &mut r);
        let (back, len) = parse(&r.buf, true).expect("a whole frame");
        prop_assert_eq!(len, r.buf.len());
        let want = as_resp3(&v);
        prop_assert!(same(&back, &want), "{:?} came back as {:?}", want, back);
    }

    #[test]
    fn replies_round_trip_in_resp2(v in value()) {
        let mut r = Reply::new(Protocol::Resp2);
        encode(&v, &mut r);
        let (back, len) = parse(&r.buf, false).expect("a whole frame");
        prop_assert_eq!(len, r.buf.len());
        let want = as_resp2(&v);
        prop_assert!(same(&back, &want), "{:?} came back as {:?}", want, back);
    }
}
