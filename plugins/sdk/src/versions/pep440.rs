//! PEP 440 (Python) version order: `1.0.dev1 < 1.0a1 < 1.0b2 < 1.0rc1 < 1.0 <
//! 1.0.post1 < 1.1`, with the normalisations PEP 440 allows (`1.0-RC1`, `v1.0`,
//! `1.0alpha1`, `1.0-1` for a post release, trailing `.0`s).

use std::cmp::Ordering;

/// A segment of a local version label: numbers sort after strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Local {
    Str(String),
    Num(u64),
}

/// A parsed PEP 440 version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pep440 {
    epoch: u64,
    release: Vec<u64>,
    /// (0 alpha, 1 beta, 2 rc, number)
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Vec<Local>,
}

struct Scan<'a> {
    s: &'a str,
}

impl Scan<'_> {
    fn digits(&mut self) -> Option<u64> {
        let n = self.s.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let v = self.s[..n].parse().ok()?;
        self.s = &self.s[n..];
        Some(v)
    }
    fn sep(&mut self) -> bool {
        match self.s.as_bytes().first() {
            Some(b'.' | b'-' | b'_') => {
                self.s = &self.s[1..];
                true
            }
            _ => false,
        }
    }
    /// One of `words` (longest first), after an optional separator; restores on failure.
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        let saved = self.s;
        self.sep();
        for (i, w) in words.iter().enumerate() {
            if let Some(rest) = self.s.strip_prefix(w) {
                self.s = rest;
                return Some(i);
            }
        }
        self.s = saved;
        None
    }
    /// An optional separator and number (0 when absent).
    fn number(&mut self) -> u64 {
        let saved = self.s;
        self.sep();
        match self.digits() {
            Some(n) => n,
            None => {
                self.s = saved;
                0
            }
        }
    }
}

const PRE: [&str; 7] = ["preview", "alpha", "beta", "pre", "rc", "a", "b"];
const PRE_KIND: [u8; 7] = [2, 0, 1, 2, 2, 0, 1];

/// What versions sort by: epoch, release, pre, post and dev ranks.
type SortKey<'a> = (u64, &'a [u64], (u8, u8, u64), (u8, u64), (u8, u64));

impl Pep440 {
    /// Parses a version; `None` when it is not valid PEP 440.
    pub fn parse(v: &str) -> Option<Pep440> {
        let lower = v.trim().to_ascii_lowercase();
        let mut sc = Scan {
            s: lower.strip_prefix('v').unwrap_or(&lower),
        };
        let mut epoch = 0;
        if let Some(i) = sc.s.find('!') {
            epoch = sc.s[..i].parse().ok()?;
            sc.s = &sc.s[i + 1..];
        }
        let mut release = vec![sc.digits()?];
        while sc.s.starts_with('.') && sc.s[1..].starts_with(|c: char| c.is_ascii_digit()) {
            sc.s = &sc.s[1..];
            release.push(sc.digits()?);
        }
        let mut pre = None;
        if let Some(i) = sc.word(&PRE) {
            pre = Some((PRE_KIND[i], sc.number()));
        } else if let Some(rest) = sc.s.strip_prefix('c')
            && !rest.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            sc.s = rest;
            pre = Some((2, sc.number()));
        }
        let mut post = None;
        if sc.word(&["post", "rev", "r"]).is_some() {
            post = Some(sc.number());
        } else if let Some(rest) = sc.s.strip_prefix('-')
            && rest.starts_with(|c: char| c.is_ascii_digit())
        {
            sc.s = rest;
            post = sc.digits();
        }
        let mut dev = None;
        if sc.word(&["dev"]).is_some() {
            dev = Some(sc.number());
        }
        let mut local = Vec::new();
        if let Some(rest) = sc.s.strip_prefix('+') {
            for seg in rest.split(['.', '-', '_']) {
                if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return None;
                }
                local.push(match seg.parse() {
                    Ok(n) => Local::Num(n),
                    Err(_) => Local::Str(seg.to_string()),
                });
            }
            sc.s = "";
        }
        if !sc.s.is_empty() {
            return None;
        }
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }
        Some(Pep440 {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    fn key(&self) -> SortKey<'_> {
        let pre = match (self.pre, self.post, self.dev) {
            // A dev release of a final version sorts before its pre-releases.
            (None, None, Some(_)) => (0, 0, 0),
            (Some((k, n)), _, _) => (1, k, n),
            (None, _, _) => (2, 0, 0),
        };
        let post = self.post.map_or((0, 0), |n| (1, n));
        let dev = self.dev.map_or((1, 0), |n| (0, n));
        (self.epoch, &self.release, pre, post, dev)
    }
}

impl Ord for Pep440 {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.key(), other.key());
        a.0.cmp(&b.0)
            .then_with(|| {
                let n = a.1.len().max(b.1.len());
                (0..n)
                    .map(|i| a.1.get(i).unwrap_or(&0).cmp(b.1.get(i).unwrap_or(&0)))
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            })
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
            .then(a.4.cmp(&b.4))
            .then_with(|| self.local.cmp(&other.local))
    }
}

impl PartialOrd for Pep440 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str) -> Pep440 {
        Pep440::parse(v).unwrap_or_else(|| panic!("{v} should parse"))
    }

    #[test]
    fn order_and_normalisation() {
        let chain = [
            "0.9",
            "1.0.dev1",
            "1.0a1.dev1",
            "1.0a1",
            "1.0a2",
            "1.0b1",
            "1.0rc1",
            "1.0",
            "1.0+local.1",
            "1.0.post1.dev1",
            "1.0.post1",
            "1.0.1",
            "1.1",
            "1.10",
            "1!0.1",
        ];
        for w in chain.windows(2) {
            assert!(p(w[0]) < p(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(p("1.0-RC1"), p("1.0rc1"));
        assert_eq!(p("v1.0"), p("1.0.0"));
        assert_eq!(p("1.0alpha1"), p("1.0a1"));
        assert_eq!(p("1.0c1"), p("1.0rc1"));
        assert_eq!(p("1.0-1"), p("1.0.post1"));
        assert_eq!(p("1.0.preview2"), p("1.0rc2"));
        assert!(p("1.0+abc") < p("1.0+5"), "numbers sort after strings in local labels");
        for bad in ["", "x", "1.0-SNAPSHOT", "1.0.0-beta.x", "1..0", "1.0+", "1.0 beta"] {
            assert!(Pep440::parse(bad).is_none(), "{bad:?}");
        }
    }
}
