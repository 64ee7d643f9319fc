use super::*;
use crate::aof::record::{encode_annotation, encode_command};
use crate::aof::testdir::TestDir;

/// A generated file and where each item (record or annotation) starts and ends.
pub(crate) struct Gen {
    pub bytes: Vec<u8>,
    /// (start, end, is_record)
    pub items: Vec<(u64, u64, bool)>,
    pub cmds: Vec<Vec<Vec<u8>>>,
}

/// `batches` batches of `per` SET commands, each batch followed by its annotation unless
/// `annotate` is false.
pub(crate) fn generate(batches: usize, per: usize, annotate: bool) -> Gen {
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut cmds = Vec::new();
    for b in 0..batches {
        let batch_start = buf.len();
        for i in 0..per {
            let start = buf.len() as u64;
            let cmd = vec![
                b"SET".to_vec(),
                format!("key:{b}:{i}").into_bytes(),
                format!("value with\r\nCRLF {b} {i}").into_bytes(),
            ];
            encode_command(&mut buf, &cmd);
            items.push((start, buf.len() as u64, true));
            cmds.push(cmd);
        }
        if annotate {
            let start = buf.len() as u64;
            let crc = crc32c::crc32c(&buf[batch_start..]);
            encode_annotation(&mut buf, crc);
            items.push((start, buf.len() as u64, false));
        }
    }
    Gen {
        bytes: buf.to_vec(),
        items,
        cmds,
    }
}

pub(crate) fn scan_bytes(dir: &TestDir, bytes: &[u8]) -> (FileScan, Vec<Vec<Bytes>>) {
    let path = dir.path().join("x.aof");
    std::fs::write(&path, bytes).unwrap();
    let mut got = Vec::new();
    let scan = scan_file::<()>(
        &path,
        &mut |a, _| {
            got.push(a);
            Ok(())
        },
        &mut |_| {},
    )
    .unwrap();
    (scan, got)
}

fn as_vecs(got: &[Vec<Bytes>]) -> Vec<Vec<Vec<u8>>> {
    got.iter()
        .map(|c| c.iter().map(|a| a.to_vec()).collect())
        .collect()
}

#[test]
fn round_trip() {
    let dir = TestDir::new("rt");
    let g = generate(4, 5, true);
    let (scan, got) = scan_bytes(&dir, &g.bytes);
    assert_eq!(scan.problem, None);
    assert_eq!(scan.valid_up_to, g.bytes.len() as u64);
    assert_eq!(scan.total, g.bytes.len() as u64);
    assert_eq!(scan.tail, BatchCrc::default());
    assert_eq!(as_vecs(&got), g.cmds);
}

#[test]
fn reads_across_many_chunks_and_big_values() {
    let dir = TestDir::new("big");
    let mut buf = BytesMut::new();
    let big = vec![b'x'; 3 * CHUNK + 17];
    for i in 0..3 {
        encode_command(&mut buf, &[&b"SET"[..], format!("k{i}").as_bytes(), &big]);
    }
    let crc = crc32c::crc32c(&buf);
    encode_annotation(&mut buf, crc);
    let mut reads = Vec::new();
    let path = dir.path().join("big.aof");
    std::fs::write(&path, &buf).unwrap();
    let mut n = 0;
    let scan = scan_file::<()>(
        &path,
        &mut |a, _| {
            assert_eq!(a[2].len(), big.len());
            n += 1;
            Ok(())
        },
        &mut |r| reads.push(r),
    )
    .unwrap();
    assert_eq!((n, scan.problem), (3, None));
    assert!(reads.len() > 3, "streamed in chunks");
    assert_eq!(*reads.last().unwrap(), buf.len() as u64);
}

#[test]
fn a_small_file_that_grows_while_read_is_read_to_its_end() {
    // Reads are sized to the file as it was when opened: what is appended later (more
    // than one such read) must still be read, in more pieces.
    let dir = TestDir::new("grows");
    let path = dir.path().join("grow.aof");
    let mut first = BytesMut::new();
    encode_command(&mut first, &[&b"SET"[..], b"k", b"v"]);
    std::fs::write(&path, &first).unwrap();
    let mut more = BytesMut::new();
    let value = vec![b'y'; 3 * 4096];
    for i in 0..5 {
        encode_command(
            &mut more,
            &[&b"SET"[..], format!("k{i}").as_bytes(), &value],
        );
    }
    let mut appended = false;
    let mut reads = Vec::new();
    let mut got = Vec::new();
    let scan = scan_file::<()>(
        &path,
        &mut |a, _| {
            got.push(a);
            Ok(())
        },
        &mut |r| {
            reads.push(r);
            if !appended {
                appended = true;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                std::io::Write::write_all(&mut f, &more).unwrap();
            }
        },
    )
    .unwrap();
    assert_eq!(scan.problem, None);
    assert_eq!(got.len(), 6);
    assert!(got[1..].iter().all(|a| a[2].len() == value.len()));
    assert_eq!(scan.total, (first.len() + more.len()) as u64);
    assert!(
        reads.len() > 3,
        "read in pieces of the first size: {reads:?}"
    );
}

#[test]
fn truncation_at_every_offset_loads_the_longest_whole_prefix() {
    let dir = TestDir::new("trunc");
    for annotate in [true, false] {
        let g = generate(3, 3, annotate);
        for cut in 0..=g.bytes.len() as u64 {
            let (scan, got) = scan_bytes(&dir, &g.bytes[..cut as usize]);
            let whole: Vec<_> = g.items.iter().filter(|i| i.1 <= cut).collect();
            let records = whole.iter().filter(|i| i.2).count();
            let end = whole.last().map_or(0, |i| i.1);
            assert_eq!(got.len(), records, "cut {cut}");
            assert_eq!(as_vecs(&got), g.cmds[..records], "cut {cut}");
            assert_eq!(scan.valid_up_to, end, "cut {cut}");
            let expect = (end < cut).then_some(Problem::TornTail { offset: end });
            assert_eq!(scan.problem, expect, "cut {cut}");
            // The tail checksum is what a writer resuming here must continue from.
            let last_ann = g
                .items
                .iter()
                .filter(|i| !i.2 && i.1 <= end)
                .map(|i| i.1)
                .max()
                .unwrap_or(0);
            let expect_crc = crc32c::crc32c(&g.bytes[last_ann as usize..end as usize]);
            assert_eq!(scan.tail.crc, expect_crc, "cut {cut}");
            assert_eq!(scan.tail.len, end - last_ann, "cut {cut}");
        }
    }
}

#[test]
fn every_bit_flip_is_detected_and_nothing_corrupt_is_applied() {
    let dir = TestDir::new("flip");
    let g = generate(3, 3, true);
    let last_ann = g.items.last().unwrap().0 as usize;
    for pos in 0..last_ann {
        for bit in [0u8, 3, 6] {
            let mut bytes = g.bytes.clone();
            bytes[pos] ^= 1 << bit;
            let (scan, got) = scan_bytes(&dir, &bytes);
            let problem = scan
                .problem
                .clone()
                .unwrap_or_else(|| panic!("flip {pos}/{bit}"));
            assert!(
                matches!(
                    problem,
                    Problem::CrcMismatch { .. } | Problem::Garbage { .. }
                ),
                "flip {pos}/{bit}: {problem:?}"
            );
            // Only whole verified batches before the damage were handed out.
            assert!(as_vecs(&got) == g.cmds[..got.len()], "flip {pos}/{bit}");
            assert!(scan.valid_up_to <= pos as u64, "flip {pos}/{bit}");
            let batch_ends: Vec<u64> = g.items.iter().filter(|i| !i.2).map(|i| i.1).collect();
            assert!(
                scan.valid_up_to == 0 || batch_ends.contains(&scan.valid_up_to),
                "flip {pos}/{bit}: cut inside a batch at {}",
                scan.valid_up_to
            );
        }
    }
}

#[test]
fn garbage_in_the_middle_names_its_offset() {
    let dir = TestDir::new("garbage");
    let g = generate(3, 2, true);
    let second_batch = g.items[2].1 as usize; // after the first annotation
    let mut bytes = g.bytes[..second_batch].to_vec();
    bytes.extend_from_slice(b"hello world\r\n");
    bytes.extend_from_slice(&g.bytes[second_batch..]);
    let (scan, got) = scan_bytes(&dir, &bytes);
    match scan.problem {
        Some(Problem::Garbage { offset, ref reason }) => {
            assert_eq!(offset, second_batch as u64);
            assert!(reason.contains("0x68"), "{reason}");
        }
        ref p => panic!("{p:?}"),
    }
    assert_eq!(got.len(), 2);
    assert_eq!(scan.valid_up_to, second_batch as u64);
    assert_eq!(scan.total, bytes.len() as u64);
}

#[test]
fn crc_mismatch_reports_the_batch_start_and_holds_its_commands_back() {
    let dir = TestDir::new("crc");
    let g = generate(3, 2, true);
    let mut bytes = g.bytes.clone();
    // Change a value byte inside the second batch, keeping the RESP well-formed.
    let (start, _, _) = g.items[3];
    let pos = start as usize + 33;
    bytes[pos] = if bytes[pos] == b'z' { b'y' } else { b'z' };
    let (scan, got) = scan_bytes(&dir, &bytes);
    match scan.problem {
        Some(Problem::CrcMismatch {
            offset, annotation, ..
        }) => {
            assert_eq!(offset, g.items[2].1);
            assert_eq!(annotation, g.items[5].0);
        }
        ref p => panic!("{p:?}"),
    }
    assert_eq!(got.len(), 2, "the damaged batch is not applied");
    assert_eq!(scan.valid_up_to, g.items[2].1);
}

#[test]
fn redis_files_without_annotations_and_with_ts_lines_load() {
    let dir = TestDir::new("redis");
    let mut bytes = b"#TS:1700000000\r\n".to_vec();
    bytes.extend_from_slice(
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n",
    );
    let (scan, got) = scan_bytes(&dir, &bytes);
    assert_eq!(scan.problem, None);
    assert_eq!(got.len(), 2);
    // An empty multibulk is a format error, as in Redis.
    let (scan, _) = scan_bytes(&dir, b"*0\r\n");
    assert!(matches!(
        scan.problem,
        Some(Problem::Garbage { offset: 0, .. })
    ));
    let (scan, _) = scan_bytes(&dir, b"REDIS0009...");
    assert_eq!(scan.problem, Some(Problem::RdbPreamble));
}

#[test]
fn corrupt_length_running_past_later_batches_is_not_a_torn_tail() {
    let dir = TestDir::new("len");
    let g = generate(3, 2, true);
    let mut bytes = g.bytes.clone();
    // "$3\r\nSET" of the first record of batch 2 becomes "$9999\r\n…": runs past the end.
    let start = g.items[3].0 as usize;
    let text = String::from_utf8(bytes[start..].to_vec()).unwrap();
    assert!(text.starts_with("*3\r\n$3\r\n"));
    bytes.splice(start + 5..start + 6, b"9999".iter().copied());
    let (scan, _) = scan_bytes(&dir, &bytes);
    assert!(
        matches!(scan.problem, Some(Problem::Garbage { offset, .. }) if offset == start as u64),
        "{:?}",
        scan.problem
    );
}

#[test]
fn zero_filled_tail_is_a_torn_tail_but_zeros_before_data_are_not() {
    let dir = TestDir::new("zeros");
    let g = generate(2, 2, true);
    let mut bytes = g.bytes.clone();
    bytes.extend_from_slice(&vec![0u8; 3 * CHUNK + 5]);
    let (scan, got) = scan_bytes(&dir, &bytes);
    assert_eq!(
        scan.problem,
        Some(Problem::TornTail {
            offset: g.bytes.len() as u64
        })
    );
    assert_eq!(scan.valid_up_to, g.bytes.len() as u64);
    assert_eq!(scan.total, bytes.len() as u64);
    assert_eq!(got.len(), 4);
    bytes.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    let (scan, _) = scan_bytes(&dir, &bytes);
    assert!(matches!(scan.problem, Some(Problem::Garbage { .. })));
}

#[test]
fn random_commands_and_batches_round_trip() {
    use rand::{Rng, SeedableRng};
    let dir = TestDir::new("prop");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    for _ in 0..50 {
        let mut buf = BytesMut::new();
        let mut cmds = Vec::new();
        let mut batch_start = 0;
        for _ in 0..rng.gen_range(1..40) {
            let argc = rng.gen_range(1..6);
            let cmd: Vec<Vec<u8>> = (0..argc)
                .map(|_| {
                    let len = if rng.gen_ratio(1, 20) {
                        rng.gen_range(0..200_000)
                    } else {
                        rng.gen_range(0..20)
                    };
                    (0..len).map(|_| rng.gen::<u8>()).collect()
                })
                .collect();
            encode_command(&mut buf, &cmd);
            cmds.push(cmd);
            if rng.gen_ratio(1, 4) {
                let crc = crc32c::crc32c(&buf[batch_start..]);
                encode_annotation(&mut buf, crc);
                batch_start = buf.len();
            }
        }
        let (scan, got) = scan_bytes(&dir, &buf);
        assert_eq!(scan.problem, None);
        assert_eq!(as_vecs(&got), cmds);
        assert_eq!(scan.tail.crc, crc32c::crc32c(&buf[batch_start..]));
    }
}
