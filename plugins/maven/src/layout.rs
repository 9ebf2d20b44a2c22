//! The Maven 2 layout: `group/path/artifactId/version/artifactId-version[-classifier].ext`,
//! SNAPSHOT folders holding timestamped builds (`1.0-SNAPSHOT/a-1.0-20261122.120000-1.jar`),
//! checksum files beside each file, and Artifactory's matrix parameters (`;key=value`).

use binyard_plugin_sdk::package_type::Failure;

/// The name of the metadata documents.
pub const METADATA: &str = "maven-metadata.xml";

/// A checksum algorithm whose files (`x.jar.sha1`) Maven reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Sha1,
    Md5,
    Sha256,
    Sha512,
}

impl Algo {
    pub const ALL: [Algo; 4] = [Algo::Sha1, Algo::Md5, Algo::Sha256, Algo::Sha512];

    /// The file extension without the dot.
    pub fn ext(self) -> &'static str {
        match self {
            Algo::Sha1 => "sha1",
            Algo::Md5 => "md5",
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            Algo::Sha1 => "SHA-1",
            Algo::Md5 => "MD5",
            Algo::Sha256 => "SHA-256",
            Algo::Sha512 => "SHA-512",
        }
    }

    /// Hex digits of a digest.
    pub fn hex_len(self) -> usize {
        match self {
            Algo::Sha1 => 40,
            Algo::Md5 => 32,
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
        }
    }
}

/// Splits `dir/x.jar.sha1` into (`dir/x.jar`, SHA-1).
pub fn checksum_of(path: &str) -> Option<(&str, Algo)> {
    Algo::ALL.into_iter().find_map(|a| {
        let base = path.strip_suffix(a.ext())?.strip_suffix('.')?;
        let name = base.rsplit('/').next().unwrap_or(base);
        (!name.is_empty()).then_some((base, a))
    })
}

/// The folder part of a path ("" at the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The last segment of a path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `dir` + `/` + `name` (no slash at the root).
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// A request path without its matrix parameters.
pub struct CleanPath {
    /// No leading or trailing slash; "" is the root.
    pub path: String,
    /// The client named a folder (the path ended in `/`).
    pub folder: bool,
    /// `;key=value` parameters, which become properties of a deployed file.
    pub matrix: Vec<(String, Vec<String>)>,
}

/// Splits Artifactory matrix parameters off every segment and refuses empty segments.
pub fn clean(raw: &str) -> Result<CleanPath, Failure> {
    let folder = raw.ends_with('/') || raw.is_empty();
    let body = raw.trim_start_matches('/').trim_end_matches('/');
    let mut matrix: Vec<(String, Vec<String>)> = Vec::new();
    let mut segments = Vec::new();
    if !body.is_empty() {
        for seg in body.split('/') {
            let mut parts = seg.split(';');
            let name = parts.next().unwrap_or("");
            for p in parts.filter(|p| !p.is_empty()) {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                if k.is_empty() || k.contains(['=', ',']) {
                    return Err(Failure::bad_request(format!(
                        "Invalid matrix parameter '{p}' in '{raw}'"
                    )));
                }
                match matrix.iter_mut().find(|(key, _)| key == k) {
                    Some((_, vals)) => vals.push(v.to_string()),
                    None => matrix.push((k.to_string(), vec![v.to_string()])),
                }
            }
            if name.is_empty() {
                return Err(Failure::bad_request(format!(
                    "Invalid path '{raw}': empty path segments are not allowed"
                )));
            }
            segments.push(name);
        }
    }
    Ok(CleanPath {
        path: segments.join("/"),
        folder,
        matrix,
    })
}

/// Whether a version is a SNAPSHOT (its builds are timestamped and replaceable).
pub fn is_snapshot(version: &str) -> bool {
    version.ends_with("-SNAPSHOT") || version == "SNAPSHOT"
}

/// One timestamped SNAPSHOT build: `20261122.120000-1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Build {
    /// `yyyyMMdd.HHmmss` (UTC).
    pub timestamp: String,
    pub number: u32,
}

impl Build {
    /// Parses `20261122.120000-1` at the start of `s`; answers the build and the rest.
    fn parse_prefix(s: &str) -> Option<(Build, &str)> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
        if !(digits(0..8) && b.get(8) == Some(&b'.') && digits(9..15) && b.get(15) == Some(&b'-')) {
            return None;
        }
        let rest = &s[16..];
        let n_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n_len == 0 || n_len > 9 {
            return None;
        }
        let number = rest[..n_len].parse().ok()?;
        Some((
            Build {
                timestamp: s[..15].to_string(),
                number,
            },
            &rest[n_len..],
        ))
    }

    /// `yyyyMMddHHmmss`, the form of `<updated>` and `<lastUpdated>`.
    pub fn updated(&self) -> String {
        self.timestamp.replace('.', "")
    }
}

/// What a file's path says in Maven terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coords {
    /// Dotted groupId.
    pub group: String,
    pub artifact: String,
    /// The version folder (`1.0`, `1.0-SNAPSHOT`).
    pub version: String,
    /// The version in the file name (`1.0-20261122.120000-1` for a timestamped build).
    pub file_version: String,
    pub classifier: Option<String>,
    /// Everything after the first dot past the version: `jar`, `tar.gz`, `jar.asc`.
    pub extension: String,
    /// The timestamped build, for SNAPSHOT files that have one.
    pub build: Option<Build>,
}

impl Coords {
    pub fn is_snapshot(&self) -> bool {
        is_snapshot(&self.version)
    }

    /// The folder of the artifact (`org/example/app`).
    pub fn artifact_dir(&self) -> String {
        format!("{}/{}", self.group.replace('.', "/"), self.artifact)
    }

    /// The folder of the version (`org/example/app/1.0`).
    pub fn version_dir(&self) -> String {
        format!("{}/{}", self.artifact_dir(), self.version)
    }
}

/// Parses a file path of at least four segments in the Maven 2 layout.
pub fn parse(path: &str) -> Option<Coords> {
    let segs: Vec<&str> = path.split('/').collect();
    if segs.len() < 4 {
        return None;
    }
    let n = segs.len();
    let group = segs[..n - 3].join(".");
    parse_file(&group, segs[n - 3], segs[n - 2], segs[n - 1])
}

/// Parses the name of a file in the folder of `group:artifact:version`.
pub fn parse_file(group: &str, artifact: &str, version: &str, file: &str) -> Option<Coords> {
    if file == METADATA || checksum_of(file).is_some() || artifact.is_empty() || version.is_empty() {
        return None;
    }
    let rest = file.strip_prefix(artifact)?.strip_prefix('-')?;
    let (file_version, build, tail) = if is_snapshot(version) {
        let base = &version[..version.len() - "SNAPSHOT".len()];
        let after = rest.strip_prefix(base)?;
        if let Some(tail) = after.strip_prefix("SNAPSHOT") {
            (version.to_string(), None, tail)
        } else {
            let (b, tail) = Build::parse_prefix(after)?;
            (format!("{base}{}-{}", b.timestamp, b.number), Some(b), tail)
        }
    } else {
        (version.to_string(), None, rest.strip_prefix(version)?)
    };
    let (classifier, extension) = if let Some(t) = tail.strip_prefix('-') {
        let (c, e) = t.split_once('.')?;
        (Some(c.to_string()), e)
    } else {
        (None, tail.strip_prefix('.')?)
    };
    if extension.is_empty() || classifier.as_deref() == Some("") {
        return None;
    }
    Some(Coords {
        group: group.to_string(),
        artifact: artifact.to_string(),
        version: version.to_string(),
        file_version,
        classifier,
        extension: extension.to_string(),
        build,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_files() {
        let c = parse("org/example/app/1.0/app-1.0-sources.jar").unwrap();
        assert_eq!(c.group, "org.example");
        assert_eq!(c.classifier.as_deref(), Some("sources"));
        assert_eq!(c.extension, "jar");
        let c = parse("org/example/app/1.0/app-1.0.tar.gz").unwrap();
        assert_eq!((c.classifier, c.extension.as_str()), (None, "tar.gz"));
        assert!(parse("org/example/app/1.0/other-1.0.jar").is_none());
        assert!(parse("app/1.0/app-1.0.jar").is_none());
        assert!(parse("org/example/app/1.0/app-1.0.jar.sha1").is_none());
    }

    #[test]
    fn snapshot_files() {
        let c = parse("g/app/1.0-SNAPSHOT/app-1.0-20261122.120000-12-tests.jar").unwrap();
        assert_eq!(c.file_version, "1.0-20261122.120000-12");
        assert_eq!(c.build.as_ref().unwrap().number, 12);
        assert_eq!(c.classifier.as_deref(), Some("tests"));
        let c = parse("g/app/1.0-SNAPSHOT/app-1.0-SNAPSHOT.pom").unwrap();
        assert_eq!(c.file_version, "1.0-SNAPSHOT");
        assert!(c.build.is_none());
        assert!(parse("g/app/1.0-SNAPSHOT/app-1.0-2026.jar").is_none());
    }

    #[test]
    fn checksums_and_matrix() {
        assert_eq!(checksum_of("a/b.jar.sha512"), Some(("a/b.jar", Algo::Sha512)));
        assert_eq!(checksum_of("a/.sha1"), None);
        let c = clean("g/a/1/a-1.jar;build.name=x;build.number=2").unwrap();
        assert_eq!(c.path, "g/a/1/a-1.jar");
        assert_eq!(c.matrix[1], ("build.number".to_string(), vec!["2".to_string()]));
        assert!(clean("g//a").is_err());
    }
}
