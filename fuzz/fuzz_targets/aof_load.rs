//! The AOF loader on damaged files. The input is a base file and an incr file (or, in one
//! mode, a manifest). Loading must never panic, must agree with `shoal aof check`, and
//! recovery must reach a fixed point: loading what a first load left behind (after it cut
//! a torn or corrupt tail) succeeds with nothing more to cut and the same commands.
#![no_main]

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use shoal_shard::aof::{self, LoadOptions, LoadReport, Manifest};

const MANIFEST: &str = "file appendonly.aof.1.base.aof seq 1 type b\n\
                        file appendonly.aof.1.incr.aof seq 1 type i\n";

/// One directory per process, on tmpfs when there is one: a file per run is the loader's
/// real input, and memory-backed files keep the run fast.
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = root
            .join(format!("shoal-fuzz-aof-{}", std::process::id()))
            .join(aof::DIR_NAME);
        std::fs::create_dir_all(&dir).expect("create the fuzz directory");
        std::fs::write(dir.join(aof::MANIFEST_NAME), MANIFEST).expect("write the manifest");
        dir
    })
}

type Loaded = Result<(LoadReport, Vec<Vec<Bytes>>), String>;

fn load(dir: &Path, opts: &LoadOptions) -> Loaded {
    let mut cmds = Vec::new();
    aof::load_dir::<Infallible>(
        dir,
        opts,
        |argv| {
            assert!(!argv.is_empty(), "an empty command was loaded");
            cmds.push(argv);
            Ok(())
        },
        |loaded, total| assert!(loaded <= total, "progress {loaded} of {total}"),
    )
    .map(|r| (r, cmds))
    .map_err(|e| e.to_string())
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    if ctl & 0x40 != 0 {
        // Whatever parses as a manifest listing files, and can be stored, is written back
        // as text that parses the same.
        // (A name too long to write back escaped is refused by `store`, not written.)
        if let Some(m) = Manifest::parse(input)
            .ok()
            .filter(|m| !m.is_empty() && m.storable())
        {
            let text = m.to_text();
            assert_eq!(Manifest::parse(text.as_bytes()).ok(), Some(m), "{text:?}");
        }
        return;
    }
    // The rest of the control byte and the next one say where the base file ends.
    let split = match input.split_first() {
        Some((&b, rest)) if ctl & 0x20 != 0 => (b as usize * 16).min(rest.len()),
        _ => 0,
    };
    let input = if ctl & 0x20 != 0 {
        &input[1.min(input.len())..]
    } else {
        input
    };
    let (base, incr) = input.split_at(split.min(input.len()));
    let dir = dir();
    let base_path = dir.join("appendonly.aof.1.base.aof");
    let incr_path = dir.join("appendonly.aof.1.incr.aof");
    std::fs::write(&base_path, base).expect("write base");
    std::fs::write(&incr_path, incr).expect("write incr");

    let checked = aof::check(dir, |_, _| {}).expect("check reads the files");
    let opts = LoadOptions {
        load_truncated: ctl & 1 == 0,
        truncate_corrupt: ctl & 2 != 0,
    };
    let first = load(dir, &opts);
    if checked.problem.is_none() {
        let (report, cmds) = first.as_ref().expect("a file check finds clean loads");
        assert_eq!(report.truncated, None);
        assert_eq!(cmds.len() as u64, checked.commands);
    }
    let Ok((report, cmds)) = first else {
        return;
    };
    if let Some((path, offset)) = &report.truncated {
        assert_eq!(path, &incr_path, "only the last file may be cut");
        let len = std::fs::metadata(path).expect("stat").len();
        assert_eq!(len, *offset, "the cut is where the report says");
    }
    let strict = LoadOptions {
        load_truncated: false,
        truncate_corrupt: false,
    };
    let (again, cmds_again) = load(dir, &strict).expect("what a load left behind loads");
    assert_eq!(again.truncated, None);
    assert_eq!(cmds_again, cmds);
    assert_eq!(again.tail, report.tail);
});
