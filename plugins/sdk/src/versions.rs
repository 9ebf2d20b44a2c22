//! Version orderings for plugins: semantic versions (npm), PEP 440 (PyPI) and
//! Maven's, and a pick of the right one for a set of versions.

pub mod maven;
pub mod pep440;
pub mod semver;

use std::cmp::Ordering;

/// Which ordering to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    SemVer,
    Pep440,
    Maven,
}

impl Scheme {
    /// By name: "semver", "pep440", "maven" (`None` for anything else).
    pub fn named(name: &str) -> Option<Scheme> {
        match name {
            "semver" => Some(Scheme::SemVer),
            "pep440" => Some(Scheme::Pep440),
            "maven" => Some(Scheme::Maven),
            _ => None,
        }
    }

    /// The ordering that understands every one of `versions`: semver when all are
    /// semantic versions, else PEP 440 when all are, else Maven's (which orders anything).
    pub fn detect<'a>(versions: impl IntoIterator<Item = &'a str> + Clone) -> Scheme {
        if versions.clone().into_iter().all(|v| semver::SemVer::parse(v).is_some()) {
            Scheme::SemVer
        } else if versions.into_iter().all(|v| pep440::Pep440::parse(v).is_some()) {
            Scheme::Pep440
        } else {
            Scheme::Maven
        }
    }

    /// Compares two versions; versions the scheme cannot read sort first, by text.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        fn by<T: Ord>(p: impl Fn(&str) -> Option<T>, a: &str, b: &str) -> Ordering {
            match (p(a), p(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => Ordering::Greater,
                (None, Some(_)) => Ordering::Less,
                (None, None) => a.cmp(b),
            }
        }
        match self {
            Scheme::SemVer => by(semver::SemVer::parse, a, b),
            Scheme::Pep440 => by(pep440::Pep440::parse, a, b),
            Scheme::Maven => maven::MavenVersion::parse(a).cmp(&maven::MavenVersion::parse(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_compares() {
        assert_eq!(Scheme::detect(["1.0.0", "1.2.0-rc.1"]), Scheme::SemVer);
        assert_eq!(Scheme::detect(["1.0", "1.0.post1", "2.0rc1"]), Scheme::Pep440);
        assert_eq!(Scheme::detect(["1.0", "1.0-SNAPSHOT"]), Scheme::Maven);
        assert_eq!(Scheme::SemVer.compare("1.0.0-rc.1", "1.0.0"), Ordering::Less);
        assert_eq!(Scheme::Pep440.compare("1.0.post1", "1.0"), Ordering::Greater);
        assert_eq!(Scheme::Maven.compare("1.0-SNAPSHOT", "1.0"), Ordering::Less);
        assert_eq!(Scheme::SemVer.compare("10.0.0", "9.0.0"), Ordering::Greater);
    }
}
