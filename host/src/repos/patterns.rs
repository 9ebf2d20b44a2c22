//! Ant-style path patterns (`**/*.jar`, `org/acme/**`, `*.pom`), as Artifactory's
//! include/exclude patterns use them.

/// Whether `path` (no leading slash) matches the Ant pattern.
pub fn ant_match(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    match_segments(&pat, &segs)
}

fn match_segments(pat: &[&str], segs: &[&str]) -> bool {
    match pat.first() {
        None => segs.is_empty(),
        Some(&"**") => (0..=segs.len()).any(|i| match_segments(&pat[1..], &segs[i..])),
        Some(p) => !segs.is_empty() && glob(p.as_bytes(), segs[0].as_bytes()) && match_segments(&pat[1..], &segs[1..]),
    }
}

/// `*` and `?` within one path segment.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::ant_match;

    #[test]
    fn patterns() {
        assert!(ant_match("**/*", "a/b/c.jar"));
        assert!(ant_match("**/*", "c.jar"));
        assert!(ant_match("**/*.jar", "a/b/c.jar"));
        assert!(!ant_match("**/*.jar", "a/b/c.pom"));
        assert!(ant_match("org/**", "org/acme/x"));
        assert!(!ant_match("org/**", "com/acme/x"));
        assert!(ant_match("a/?.txt", "a/b.txt"));
        assert!(!ant_match("a/*.txt", "a/b/c.txt"));
        assert!(ant_match("**/secret/**", "x/secret/y/z"));
    }
}
