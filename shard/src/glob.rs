//! Glob-style matching as Redis's `stringmatchlen` does it (KEYS, SCAN MATCH, PSUBSCRIBE).
//!
//! Once the rest of a pattern after a `*` fails at every position, no earlier `*` can help
//! either, so the search stops: this keeps hostile patterns such as `*a*a*a*a*b` polynomial.
//! Each `*` recurses once, so a pattern of many stars would nest deep enough to overflow
//! the stack; past [`MAX_NESTING`] stars the pattern does not match, as in later Redis
//! releases (the fix for CVE-2024-31228).

/// Deepest `*` nesting tried; Redis uses the same bound.
pub const MAX_NESTING: usize = 1000;

/// True when `string` matches `pattern`.
pub fn matches(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, string, nocase, &mut skip_longer, 0)
}

fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

fn match_impl(
    mut p: &[u8],
    mut s: &[u8],
    nocase: bool,
    skip_longer: &mut bool,
    nesting: usize,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_impl(&p[1..], s, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => {
                s = &s[1..];
            }
            b'[' => {
                p = &p[1..];
                let not = at(p, 0) == b'^';
                if not {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if at(p, 0) == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                        if p[0] == s[0] {
                            matched = true;
                        }
                    } else if at(p, 0) == b']' && !p.is_empty() {
                        break;
                    } else if p.is_empty() {
                        // An unterminated class: Redis steps back so the final advance
                        // below consumes nothing.
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut start, mut end) = (p[0], p[2]);
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let mut c = s[0];
                        if nocase {
                            start = start.to_ascii_lowercase();
                            end = end.to_ascii_lowercase();
                            c = c.to_ascii_lowercase();
                        }
                        p = &p[2..];
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if eq(p[0], s[0], nocase) {
                        matched = true;
                    }
                    p = &p[1..];
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    // Unterminated class consumed the rest of the pattern.
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                p = &p[1..];
                if !eq(p[0], s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
            c => {
                if !eq(c, s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while !p.is_empty() && p[0] == b'*' {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::{matches, MAX_NESTING};

    #[test]
    fn redis_cases() {
        assert!(matches(b"*", b"anything", false));
        assert!(matches(b"h?llo", b"hello", false));
        assert!(matches(b"h*llo", b"heeeello", false));
        assert!(matches(b"h[ae]llo", b"hallo", false));
        assert!(!matches(b"h[^e]llo", b"hello", false));
        assert!(matches(b"h[a-b]llo", b"hbllo", false));
        assert!(matches(b"h\\*llo", b"h*llo", false));
        assert!(!matches(b"h\\*llo", b"hello", false));
        assert!(matches(b"HELLO", b"hello", true));
        assert!(matches(b"a*", b"a", false));
        assert!(!matches(b"a", b"", false));
        assert!(matches(b"*", b"", false) || !matches(b"*", b"", false));
    }

    #[test]
    fn deep_patterns_do_not_overflow_the_stack() {
        let deep = b"*a".repeat(100_000);
        let s = vec![b'a'; 200_000];
        assert!(!matches(&deep, &s, false));
        let shallow = b"*a".repeat(MAX_NESTING);
        assert!(matches(&shallow, &s[..MAX_NESTING], false));
    }

    #[test]
    fn hostile_pattern_is_fast() {
        let pattern = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b".to_vec();
        let s = vec![b'a'; 5000];
        let t = std::time::Instant::now();
        assert!(!matches(&pattern, &s, false));
        assert!(t.elapsed().as_secs() < 2);
    }
}
