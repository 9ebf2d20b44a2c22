//! Semantic Versioning 2.0 precedence: `1.0.0-alpha < 1.0.0-alpha.1 <
//! 1.0.0-beta < 1.0.0-rc.1 < 1.0.0`; build metadata (`+…`) is ignored.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ident {
    Num(u64),
    Alpha(String),
}

/// A parsed semantic version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer {
    core: [u64; 3],
    pre: Vec<Ident>,
}

fn number(s: &str) -> Option<u64> {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if ok { s.parse().ok() } else { None }
}

impl SemVer {
    /// Parses a strict semantic version (no leading `v`); `None` when it is not one.
    pub fn parse(v: &str) -> Option<SemVer> {
        let v = v
            .split_once('+')
            .map_or(v, |(a, build)| if build.is_empty() { "\0" } else { a });
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (v, None),
        };
        let mut parts = core.split('.');
        let mut nums = [0u64; 3];
        for n in &mut nums {
            *n = number(parts.next()?)?;
        }
        if parts.next().is_some() {
            return None;
        }
        let mut ids = Vec::new();
        if let Some(p) = pre {
            for id in p.split('.') {
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return None;
                }
                ids.push(if id.bytes().all(|b| b.is_ascii_digit()) {
                    Ident::Num(number(id)?)
                } else {
                    Ident::Alpha(id.to_string())
                });
            }
        }
        Some(SemVer { core: nums, pre: ids })
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let o = match (a, b) {
                            (Ident::Num(x), Ident::Num(y)) => x.cmp(y),
                            (Ident::Num(_), Ident::Alpha(_)) => Ordering::Less,
                            (Ident::Alpha(_), Ident::Num(_)) => Ordering::Greater,
                            (Ident::Alpha(x), Ident::Alpha(y)) => x.cmp(y),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.2.0",
            "1.10.0",
            "2.0.0",
        ];
        for w in chain.windows(2) {
            assert!(
                SemVer::parse(w[0]).unwrap() < SemVer::parse(w[1]).unwrap(),
                "{} < {}",
                w[0],
                w[1]
            );
        }
        assert_eq!(SemVer::parse("1.0.0+build.5"), SemVer::parse("1.0.0"));
        for bad in ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-a..b", "1.0.0+", "x"] {
            assert!(SemVer::parse(bad).is_none(), "{bad}");
        }
    }
}
