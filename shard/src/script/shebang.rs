//! The `#!lua flags=…` first line of a script, which opts it out of EVAL's compatibility
//! mode and declares what it may do.

/// What a script's shebang declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScriptFlags {
    /// No shebang: the checks Redis makes before running a flagged script are skipped.
    pub compat: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    /// Bytes of the shebang line (its newline stays in the body, to keep line numbers).
    pub shebang_len: usize,
}

/// Parses the shebang, if any; the error is the reply text.
pub fn parse(body: &[u8]) -> Result<ScriptFlags, String> {
    if !body.starts_with(b"#!") {
        return Ok(ScriptFlags {
            compat: true,
            ..ScriptFlags::default()
        });
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_whitespace();
    let Some(engine) = parts.next() else {
        return Err("ERR Invalid engine in script shebang".into());
    };
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = ScriptFlags {
        shebang_len: end,
        ..ScriptFlags::default()
    };
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        for flag in list.split(',') {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                // Meaningful only on replicas and clusters, which a shard is not.
                "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                _ => return Err(format!("ERR Unexpected flag in script shebang: {flag}")),
            }
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert!(parse(b"return 1").unwrap().compat);
        let f = parse(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(!f.compat && f.no_writes && f.allow_oom && f.shebang_len == 31);
        assert_eq!(
            parse(b"#!lua").unwrap_err(),
            "ERR Invalid script shebang".to_string()
        );
        assert_eq!(
            parse(b"#!python\n").unwrap_err(),
            "ERR Unexpected engine in script shebang: #!python"
        );
        assert_eq!(
            parse(b"#!lua flags=bad\n").unwrap_err(),
            "ERR Unexpected flag in script shebang: bad"
        );
        assert_eq!(
            parse(b"#!lua name=x\n").unwrap_err(),
            "ERR Unknown lua shebang option: name=x"
        );
    }
}
