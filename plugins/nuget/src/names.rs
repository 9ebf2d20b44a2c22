//! Package ids and versions as NuGet compares them: ids case-insensitively, versions
//! normalised (`1.0` and `1.0.0.0` are `1.0.0`, leading zeros dropped, build
//! metadata not part of the identity) and ordered by SemVer 2 precedence with a
//! fourth (revision) number.

use std::cmp::Ordering;

/// The longest package id NuGet accepts.
const MAX_ID: usize = 100;

/// Checks a package id: letters, digits, `.`, `-` and `_`, at most 100
/// characters, no leading or trailing dot — so never a path.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID {
        return Err(format!(
            "the package id '{id}' is empty or longer than {MAX_ID} characters"
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err(format!(
            "the package id '{id}' has characters other than letters, digits, '.', '-' and '_'"
        ));
    }
    if id.starts_with('.') || id.ends_with('.') || id.contains("..") {
        return Err(format!(
            "the package id '{id}' starts or ends with a dot or has two in a row"
        ));
    }
    Ok(())
}

/// A NuGet version.
#[derive(Debug, Clone)]
pub struct Version {
    nums: [u64; 4],
    /// Release labels (`beta.1` → ["beta", "1"]); empty for a release.
    labels: Vec<String>,
    /// Whether the version needs SemVer 2 clients (dotted labels or metadata).
    pub semver2: bool,
}

fn number(s: &str) -> Option<u64> {
    (!s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

impl Version {
    /// Parses `1`, `1.2`, `1.2.3`, `1.2.3.4`, with `-labels` and `+metadata`.
    pub fn parse(v: &str) -> Option<Version> {
        let v = v.trim();
        let (rest, metadata) = match v.split_once('+') {
            Some((r, m)) => {
                if m.is_empty()
                    || !m
                        .split('.')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                {
                    return None;
                }
                (r, true)
            }
            None => (v, false),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 4 {
            return None;
        }
        let mut nums = [0u64; 4];
        for (n, p) in nums.iter_mut().zip(&parts) {
            *n = number(p)?;
        }
        let mut labels = Vec::new();
        if let Some(p) = pre {
            for l in p.split('.') {
                if l.is_empty() || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return None;
                }
                labels.push(l.to_string());
            }
        }
        let semver2 = metadata || labels.len() > 1;
        Some(Version { nums, labels, semver2 })
    }

    /// The normalised form: three or four numbers (the fourth only when not 0),
    /// leading zeros dropped, labels kept, metadata dropped.
    pub fn normalized(&self) -> String {
        let [a, b, c, d] = self.nums;
        let mut s = if d != 0 {
            format!("{a}.{b}.{c}.{d}")
        } else {
            format!("{a}.{b}.{c}")
        };
        if !self.labels.is_empty() {
            s.push('-');
            s.push_str(&self.labels.join("."));
        }
        s
    }

    /// The lower-case normalised form (flat container and registration URLs).
    pub fn lower(&self) -> String {
        self.normalized().to_ascii_lowercase()
    }

    pub fn is_prerelease(&self) -> bool {
        !self.labels.is_empty()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nums
            .cmp(&other.nums)
            .then_with(|| match (self.labels.is_empty(), other.labels.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.labels.iter().zip(&other.labels) {
                        let o = match (number(a), number(b)) {
                            (Some(x), Some(y)) => x.cmp(&y),
                            (Some(_), None) => Ordering::Less,
                            (None, Some(_)) => Ordering::Greater,
                            (None, None) => a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.labels.len().cmp(&other.labels.len())
                }
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(check_id("Newtonsoft.Json").is_ok());
        assert!(check_id("my_pkg-1").is_ok());
        for bad in ["", "../evil", "a/b", "a\\b", ".a", "a.", "a..b", "a b", "ä"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalisation_and_order() {
        let n = |s: &str| Version::parse(s).unwrap().normalized();
        assert_eq!(n("1.0.0.0"), "1.0.0");
        assert_eq!(n("1.0"), "1.0.0");
        assert_eq!(n("01.002.3"), "1.2.3");
        assert_eq!(n("1.0.0+build.5"), "1.0.0");
        assert_eq!(n("1.2.3.4-Beta.1"), "1.2.3.4-Beta.1");
        assert_eq!(Version::parse("1.0.0-RC1").unwrap().lower(), "1.0.0-rc1");
        assert!(Version::parse("1.0.0+build").unwrap().semver2);
        assert!(Version::parse("1.0.0-beta.1").unwrap().semver2);
        assert!(!Version::parse("1.0.0-beta1").unwrap().semver2);
        for bad in ["", "a", "1.2.3.4.5", "1..2", "1.0-", "1.0+", "1.0.0-a..b"] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
        let p = |s: &str| Version::parse(s).unwrap();
        assert!(p("1.0.0-alpha") < p("1.0.0-alpha.1"));
        assert!(p("1.0.0-alpha.1") < p("1.0.0-beta"));
        assert!(p("1.0.0-beta.2") < p("1.0.0-beta.11"));
        assert!(p("1.0.0-rc.1") < p("1.0.0"));
        assert!(p("1.0.0") < p("1.0.0.1"));
        assert_eq!(p("1.0.0-RC"), p("1.0.0-rc"));
        assert_eq!(p("1.0.0.0"), p("1.0.0+meta"));
    }
}
