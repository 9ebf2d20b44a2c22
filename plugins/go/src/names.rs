//! Module paths and versions as the go command writes them: the case encoding of
//! URLs and file names (`!a` for `A`), the path rules of `go get`, canonical
//! semantic versions with `+incompatible`, pseudo-versions and major-version
//! suffixes (`/v2`, gopkg.in's `.v2`).

use std::cmp::Ordering;

use binyard_plugin_sdk::versions::semver::SemVer;

/// `A` → `!a`: what the go command sends for upper-case letters (file systems and
/// URLs may fold case; module paths must not).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `!a` → `A`; none when the text is not a case encoding (a bare upper-case letter,
/// or `!` not before a lower-case letter).
pub fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bang = false;
    for c in s.chars() {
        if bang {
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
            bang = false;
        } else if c == '!' {
            bang = true;
        } else if c.is_ascii_uppercase() {
            return None;
        } else {
            out.push(c);
        }
    }
    (!bang).then_some(out)
}

/// Checks a module path as `go get` does: slash-separated elements of ASCII
/// letters, digits and `-._~`, none empty or starting or ending with a dot; the
/// first a host name (lower case, with a dot); a final `/vN` only for N ≥ 2.
pub fn check_module(path: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("'{path}' is not a valid module path: {why}"));
    if path.is_empty() || path.len() > 1024 {
        return bad("it is empty or longer than 1024 characters");
    }
    for elem in path.split('/') {
        if elem.is_empty() {
            return bad("it has an empty path element");
        }
        if elem.starts_with('.') || elem.ends_with('.') {
            return bad("a path element starts or ends with a dot");
        }
        if !elem.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
            return bad("only ASCII letters, digits and -._~ are allowed");
        }
    }
    let first = path.split('/').next().unwrap_or_default();
    if !first.contains('.') {
        return bad("its first element is not a host name (no dot)");
    }
    if first.starts_with('-')
        || !first
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
    {
        return bad("its first element must be lower-case letters, digits, dots and dashes");
    }
    if let Some(last) = path.rsplit('/').next().filter(|_| path.contains('/'))
        && let Some(n) = last.strip_prefix('v')
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && (n.starts_with('0') || n == "1")
    {
        return bad("a major-version suffix is /v2 or higher");
    }
    Ok(())
}

/// The major-version suffix of a module path: `/v2` (`/vN`, N ≥ 2), gopkg.in's
/// `.v1`, or "" for none.
pub fn path_major(path: &str) -> &str {
    if path.starts_with("gopkg.in/")
        && let Some(i) = path.rfind(".v")
        && path[i + 2..].bytes().all(|b| b.is_ascii_digit())
        && i + 2 < path.len()
    {
        return &path[i..];
    }
    match path.rfind('/') {
        Some(i)
            if path[i + 1..].len() > 1
                && path[i + 1..].starts_with('v')
                && path[i + 2..].bytes().all(|b| b.is_ascii_digit())
                && !path[i + 2..].starts_with('0') =>
        {
            &path[i..]
        }
        _ => "",
    }
}

/// A canonical module version: `vX.Y.Z[-pre][+incompatible]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub text: String,
    semver: SemVer,
    pub major: u64,
    pub prerelease: bool,
    pub incompatible: bool,
}

impl Version {
    /// Parses a canonical version (no shorthand such as `v1.2`, no build metadata
    /// other than `+incompatible`).
    pub fn parse(v: &str) -> Option<Version> {
        let rest = v.strip_prefix('v')?;
        let (core_pre, incompatible) = match rest.split_once('+') {
            Some((a, "incompatible")) => (a, true),
            Some(_) => return None,
            None => (rest, false),
        };
        let semver = SemVer::parse(core_pre)?;
        let major = core_pre.split('.').next()?.parse().ok()?;
        Some(Version {
            text: v.to_string(),
            semver,
            major,
            prerelease: core_pre.contains('-'),
            incompatible,
        })
    }

    /// A pseudo-version (`v0.0.0-20191109021931-daa7c04131f5` and its two other
    /// forms), which names a commit, not a release: `@v/list` leaves them out.
    pub fn is_pseudo(&self) -> bool {
        let core_pre = self.text.trim_start_matches('v');
        let core_pre = core_pre.split('+').next().unwrap_or(core_pre);
        let Some((core, pre)) = core_pre.split_once('-') else {
            return false;
        };
        let Some((head, rev)) = pre.rsplit_once('-') else {
            return false;
        };
        if rev.is_empty() || !rev.bytes().all(|b| b.is_ascii_alphanumeric()) || head.len() < 14 {
            return false;
        }
        let (before, stamp) = head.split_at(head.len() - 14);
        if !stamp.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        // vX.0.0-stamp-rev, vX.Y.Z-pre.0.stamp-rev or vX.Y.Z-0.stamp-rev.
        (before.is_empty() && core.ends_with(".0.0")) || before == "0." || before.ends_with(".0.")
    }

    /// Whether the version may be a version of a module with this path (`/v2`
    /// needs v2.x.y; no suffix needs v0/v1 or `+incompatible`).
    pub fn matches_path(&self, module: &str) -> bool {
        let major = path_major(module);
        if let Some(n) = major.strip_prefix(".v") {
            let n = n.trim_end_matches("-unstable");
            return !self.incompatible
                && (n.parse() == Ok(self.major) || (n == "1" && self.text.starts_with("v0.0.0-")));
        }
        match major.strip_prefix("/v") {
            Some(n) => !self.incompatible && n.parse() == Ok(self.major),
            None if self.incompatible => self.major >= 2,
            None => self.major <= 1,
        }
    }

    /// Go's order for `@latest`: releases above pre-releases above pseudo-versions,
    /// then by semantic-version precedence.
    pub fn latest_order(&self, other: &Version) -> Ordering {
        let rank = |v: &Version| match (v.is_pseudo(), v.prerelease) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => 2,
        };
        rank(self).cmp(&rank(other)).then_with(|| self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.semver
            .cmp(&other.semver)
            .then_with(|| self.incompatible.cmp(&other.incompatible))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What a request asks about one module.
#[derive(Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `{module}/@v/list`
    List,
    /// `{module}/@latest`
    Latest,
    /// `{module}/@v/{version}.{info|mod|zip}`: the (decoded) version and extension.
    File(String, Ext),
}

/// The three files of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ext {
    Info,
    Mod,
    Zip,
}

impl Ext {
    pub fn as_str(self) -> &'static str {
        match self {
            Ext::Info => "info",
            Ext::Mod => "mod",
            Ext::Zip => "zip",
        }
    }
    pub const ALL: [Ext; 3] = [Ext::Info, Ext::Mod, Ext::Zip];
}

/// A parsed proxy request: the module path (decoded), its escaped form (the folder it
/// is stored in) and the endpoint.
#[derive(Debug)]
pub struct Target {
    pub module: String,
    pub escaped: String,
    pub endpoint: Endpoint,
}

impl Target {
    /// Where a version's file is stored: `{escaped module}/@v/{escaped version}.{ext}`,
    /// the layout of a GOPROXY folder.
    pub fn file_path(&self, version: &str, ext: Ext) -> String {
        format!("{}/@v/{}.{}", self.escaped, escape(version), ext.as_str())
    }

    /// The folder of the module's version files.
    pub fn versions_folder(&self) -> String {
        format!("{}/@v", self.escaped)
    }
}

/// Parses `{module}/@v/list`, `{module}/@latest` or `{module}/@v/{version}.{ext}`.
/// The failure is a 404 message the go command shows.
pub fn parse(path: &str) -> Result<Target, String> {
    let (escaped, endpoint) = if let Some(m) = path.strip_suffix("/@latest") {
        (m, Endpoint::Latest)
    } else if let Some(m) = path.strip_suffix("/@v/list") {
        (m, Endpoint::List)
    } else if let Some((m, file)) = path.rsplit_once("/@v/") {
        let (v, ext) = file
            .rsplit_once('.')
            .ok_or_else(|| format!("'{file}' is not a .info, .mod or .zip file"))?;
        let ext = match ext {
            "info" => Ext::Info,
            "mod" => Ext::Mod,
            "zip" => Ext::Zip,
            _ => return Err(format!("'{file}' is not a .info, .mod or .zip file")),
        };
        let version = decode(v).ok_or_else(|| format!("'{v}' is not a case-encoded version"))?;
        (m, Endpoint::File(version, ext))
    } else {
        return Err(format!(
            "'{path}' is not a module proxy path: {{module}}/@v/list, {{module}}/@v/{{version}}.info|.mod|.zip or {{module}}/@latest"
        ));
    };
    let module = decode(escaped).ok_or_else(|| {
        format!("'{escaped}' is not a case-encoded module path (upper-case letters are sent as '!' and the lower-case letter)")
    })?;
    check_module(&module)?;
    Ok(Target {
        escaped: escape(&module),
        module,
        endpoint,
    })
}

/// A path or version as sent: case-encoded (what the go command sends), or plain
/// with upper-case letters and no `!` (what JFrog CLI's publish sends).
fn decode(s: &str) -> Option<String> {
    if s.contains('!') || !s.bytes().any(|b| b.is_ascii_uppercase()) {
        unescape(s)
    } else {
        Some(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_encoding_round_trips() {
        assert_eq!(escape("github.com/Azure/azure-sdk"), "github.com/!azure/azure-sdk");
        assert_eq!(
            unescape("github.com/!azure/azure-sdk").unwrap(),
            "github.com/Azure/azure-sdk"
        );
        assert_eq!(unescape("v1.0.0-!r!c1").unwrap(), "v1.0.0-RC1");
        assert!(unescape("github.com/Azure").is_none());
        assert!(unescape("a!").is_none());
        assert!(unescape("a!!b").is_none());
    }

    #[test]
    fn module_paths() {
        assert!(check_module("example.com/a/b").is_ok());
        assert!(check_module("example.com/a/v2").is_ok());
        assert!(check_module("github.com/Azure/go-autorest").is_ok());
        assert!(check_module("example.com/a/v1").is_err());
        assert!(check_module("example.com/a/v0").is_err());
        assert!(check_module("nodot/a").is_err());
        assert!(check_module("Example.com/a").is_err());
        assert!(check_module("example.com//a").is_err());
        assert!(check_module("example.com/a/../b").is_err());
        assert!(check_module("example.com/a b").is_err());
        assert_eq!(path_major("example.com/a/v2"), "/v2");
        assert_eq!(path_major("example.com/a"), "");
        assert_eq!(path_major("gopkg.in/yaml.v3"), ".v3");
    }

    #[test]
    fn versions() {
        assert!(Version::parse("v1.2").is_none());
        assert!(Version::parse("1.2.3").is_none());
        assert!(Version::parse("v1.2.3+build").is_none());
        assert!(Version::parse("v01.2.3").is_none());
        let v = Version::parse("v2.0.0+incompatible").unwrap();
        assert!(v.incompatible && v.major == 2);
        assert!(v.matches_path("example.com/a"));
        assert!(!v.matches_path("example.com/a/v2"));
        assert!(Version::parse("v2.1.0").unwrap().matches_path("example.com/a/v2"));
        assert!(!Version::parse("v2.1.0").unwrap().matches_path("example.com/a"));
        assert!(!Version::parse("v1.1.0").unwrap().matches_path("example.com/a/v2"));
        assert!(Version::parse("v3.0.0").unwrap().matches_path("gopkg.in/yaml.v3"));
        for p in [
            "v0.0.0-20191109021931-daa7c04131f5",
            "v1.2.4-0.20191109021931-daa7c04131f5",
            "v1.2.3-rc.1.0.20191109021931-daa7c04131f5",
        ] {
            assert!(Version::parse(p).unwrap().is_pseudo(), "{p}");
        }
        for r in ["v1.0.0", "v1.0.0-rc.1", "v1.2.0-20191109021931-daa7c04131f5"] {
            assert!(!Version::parse(r).unwrap().is_pseudo(), "{r}");
        }
        let p = |s| Version::parse(s).unwrap();
        assert!(p("v1.10.0") > p("v1.9.0"));
        assert_eq!(p("v1.0.0").latest_order(&p("v2.0.0-rc.1")), Ordering::Greater);
        assert_eq!(
            p("v0.0.0-20191109021931-daa7c04131f5").latest_order(&p("v0.1.0-rc.1")),
            Ordering::Less
        );
    }

    #[test]
    fn requests() {
        let t = parse("github.com/!azure/x/@v/v1.0.0-!r!c1.zip").unwrap();
        assert_eq!(t.module, "github.com/Azure/x");
        assert_eq!(t.endpoint, Endpoint::File("v1.0.0-RC1".into(), Ext::Zip));
        assert_eq!(
            t.file_path("v1.0.0-RC1", Ext::Zip),
            "github.com/!azure/x/@v/v1.0.0-!r!c1.zip"
        );
        assert_eq!(parse("example.com/m/@v/list").unwrap().endpoint, Endpoint::List);
        assert_eq!(parse("example.com/m/@latest").unwrap().endpoint, Endpoint::Latest);
        assert!(parse("example.com/m/@v/v1.0.0.tar").is_err());
        let plain = parse("github.com/Azure/x/@v/v1.0.0-RC1.mod").unwrap();
        assert_eq!(plain.escaped, "github.com/!azure/x");
        assert_eq!(plain.endpoint, Endpoint::File("v1.0.0-RC1".into(), Ext::Mod));
        assert!(parse("github.com/Azure/!x/@v/list").is_err());
        assert!(parse("example.com/m").is_err());
    }
}
