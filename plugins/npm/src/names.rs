//! Package names (npm's rules for new packages) and where a package's files live in
//! the repository (Artifactory's npm layout).

use binyard_plugin_sdk::package_type::Failure;

/// npm's limit on the length of a name, scope included.
const MAX_NAME: usize = 214;

/// A valid npm package name: `name` or `@scope/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageName {
    /// The whole name, `@scope/name` for a scoped package.
    pub full: String,
}

impl PackageName {
    /// Checks a name against npm's rules for new packages: lower case, URL-safe,
    /// no leading `.` or `_`, at most 214 characters.
    pub fn parse(name: &str) -> Result<Self, Failure> {
        let bad = |why: &str| Failure::bad_request(format!("Invalid package name '{name}': {why}"));
        if name.is_empty() {
            return Err(bad("it is empty"));
        }
        if name.len() > MAX_NAME {
            return Err(bad("it is longer than 214 characters"));
        }
        let parts: Vec<&str> = match name.strip_prefix('@') {
            Some(rest) => {
                let (scope, base) = rest
                    .split_once('/')
                    .ok_or_else(|| bad("a scoped name is '@scope/name'"))?;
                vec![scope, base]
            }
            None => vec![name],
        };
        for part in parts {
            if part.is_empty() {
                return Err(bad("a part of it is empty"));
            }
            if part.starts_with('.') || part.starts_with('_') {
                return Err(bad("it may not start with '.' or '_'"));
            }
            if !part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_'))
            {
                return Err(bad("only lower-case letters, digits, '-', '.' and '_' are allowed"));
            }
        }
        if matches!(name, "node_modules" | "favicon.ico") {
            return Err(bad("this name is reserved"));
        }
        Ok(PackageName { full: name.to_string() })
    }

    /// The part after the scope (the whole name when unscoped).
    pub fn base(&self) -> &str {
        self.full.rsplit('/').next().unwrap_or(&self.full)
    }

    /// The package's folder: `name` or `@scope/name`.
    pub fn folder(&self) -> &str {
        &self.full
    }

    /// Where a version's tarball is stored: `{name}/-/{name}-{version}.tgz`, which
    /// for a scoped package is `@scope/name/-/@scope/name-{version}.tgz`.
    pub fn tarball_path(&self, version: &str) -> String {
        format!("{}/-/{}", self.full, self.tarball_file(version))
    }

    /// The folder that holds the tarballs (`name/-` or `@scope/name/-/@scope`).
    pub fn tarball_dir(&self) -> String {
        match self.full.split_once('/') {
            Some((scope, _)) => format!("{}/-/{scope}", self.full),
            None => format!("{}/-", self.full),
        }
    }

    /// The attachment name npm sends: `{name}-{version}.tgz` (scope included).
    pub fn tarball_file(&self, version: &str) -> String {
        format!("{}-{version}.tgz", self.full)
    }

    /// The version a tarball's leaf file name encodes, if it is one of this package's.
    pub fn version_of_leaf<'a>(&self, leaf: &'a str) -> Option<&'a str> {
        leaf.strip_prefix(self.base())?.strip_prefix('-')?.strip_suffix(".tgz")
    }
}

/// Checks a version string: semver 2.0, as npm publishes it.
pub fn parse_version(v: &str) -> Result<semver::Version, Failure> {
    semver::Version::parse(v).map_err(|e| Failure::bad_request(format!("Invalid version '{v}': {e}")))
}

/// Checks a dist-tag: npm refuses tags that read as version ranges, and the tag is
/// kept as a property value and a path segment.
pub fn check_tag(tag: &str) -> Result<(), Failure> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && semver::VersionReq::parse(tag).is_err();
    if ok {
        Ok(())
    } else {
        Err(Failure::bad_request(format!(
            "Invalid dist-tag '{tag}': use letters, digits, '-', '.' or '_', and nothing that reads as a version range"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_npm_rules() {
        for ok in ["a", "left-pad", "@scope/pkg", "a.b_c", "x1"] {
            assert!(PackageName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "../x",
            ".x",
            "_x",
            "A",
            "a b",
            "@scope",
            "@/x",
            "@s/",
            "a/b",
            "@s/x/y",
            "node_modules",
            "a%2fb",
            "é",
        ] {
            assert!(PackageName::parse(bad).is_err(), "{bad}");
        }
        assert!(PackageName::parse(&"a".repeat(215)).is_err());
    }

    #[test]
    fn scoped_tarballs_use_artifactory_layout() {
        let n = PackageName::parse("@s/p").unwrap();
        assert_eq!(n.tarball_path("1.0.0"), "@s/p/-/@s/p-1.0.0.tgz");
        assert_eq!(n.tarball_dir(), "@s/p/-/@s");
        assert_eq!(n.version_of_leaf("p-1.0.0-rc.1.tgz"), Some("1.0.0-rc.1"));
        let n = PackageName::parse("p").unwrap();
        assert_eq!(n.tarball_path("2.0.0"), "p/-/p-2.0.0.tgz");
        assert_eq!(n.tarball_dir(), "p/-");
    }

    #[test]
    fn tags_that_read_as_ranges_are_refused() {
        assert!(check_tag("beta").is_ok());
        assert!(check_tag("next-1").is_ok());
        for bad in ["1.0.0", "^1", "", "a/b", "x y"] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }
}
