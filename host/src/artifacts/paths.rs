//! Repository paths as clients send them: percent-encoded segments, optional
//! matrix parameters (`;key=value`), and everything a path must never contain.

use super::ArtifactError;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::storage::Properties;

/// `/repo/path;k=v` split and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath {
    pub repo: String,
    /// Normalised path inside the repository, no leading or trailing slash; `""` is the root.
    pub path: String,
    /// The request ended in `/` (a folder is meant).
    pub trailing_slash: bool,
    /// Matrix parameters, as properties.
    pub matrix: Properties,
}

impl RepoPath {
    /// Parses the raw (still percent-encoded) `repo/path` part of a URL.
    pub fn parse(raw: &str) -> Result<RepoPath, ArtifactError> {
        let raw = raw.strip_prefix('/').unwrap_or(raw);
        let (repo_raw, rest) = raw.split_once('/').unwrap_or((raw, ""));
        let mut matrix = Properties::new();
        let repo_seg = take_matrix(repo_raw, &mut matrix)?;
        let repo = decode_segment(repo_seg)?;
        if repo.is_empty() {
            return Err(ArtifactError::Invalid("The path names no repository".into()));
        }
        let trailing_slash = rest.ends_with('/');
        let body = rest.strip_suffix('/').unwrap_or(rest);
        let mut segments = Vec::new();
        if !body.is_empty() {
            for seg in body.split('/') {
                let seg = take_matrix(seg, &mut matrix)?;
                segments.push(decode_segment(seg)?);
            }
        }
        // A matrix-only last segment (`/file.jar;a=1` gives "file.jar") is fine;
        // an empty segment anywhere is not.
        if segments.iter().any(String::is_empty) {
            return Err(ArtifactError::Invalid(format!(
                "Invalid path '{raw}': empty path segments are not allowed"
            )));
        }
        Ok(RepoPath {
            repo,
            path: segments.join("/"),
            trailing_slash,
            matrix,
        })
    }
}

/// Splits `name;k=v;k2=v2`, adding the parameters to `matrix`.
fn take_matrix<'a>(seg: &'a str, matrix: &mut Properties) -> Result<&'a str, ArtifactError> {
    let mut parts = seg.split(';');
    let name = parts.next().unwrap_or("");
    for p in parts {
        if p.is_empty() {
            continue;
        }
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let k = decode(k)?;
        let v = decode(v)?;
        check_property_key(&k)?;
        check_property_value(&k, &v)?;
        matrix.entry(k).or_default().push(v);
    }
    Ok(name)
}

fn decode(s: &str) -> Result<String, ArtifactError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ArtifactError::Invalid("The path is not valid UTF-8".into()))
}

/// Decodes one path segment and refuses the ones that could escape or confuse a path.
fn decode_segment(seg: &str) -> Result<String, ArtifactError> {
    let s = decode(seg)?;
    if s == "." || s == ".." {
        return Err(ArtifactError::Invalid(format!(
            "Invalid path: '{s}' segments are not allowed"
        )));
    }
    if let Some(c) = s.chars().find(|c| matches!(c, '/' | '\\' | '\0') || c.is_control()) {
        return Err(ArtifactError::Invalid(format!(
            "Invalid path: the character {c:?} is not allowed in a path segment"
        )));
    }
    Ok(s)
}

/// Checks a property key: non-empty, no separators.
pub fn check_property_key(k: &str) -> Result<(), ArtifactError> {
    if k.is_empty() || k.len() > 255 || k.chars().any(|c| matches!(c, '=' | ';' | ',' | '\0') || c.is_control()) {
        return Err(ArtifactError::Invalid(format!("Invalid property key '{k}'")));
    }
    Ok(())
}

/// Checks a property value: no NUL or other control characters (tab and line
/// breaks aside), which clients and search indexes cannot carry.
pub fn check_property_value(k: &str, v: &str) -> Result<(), ArtifactError> {
    if let Some(c) = v.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        return Err(ArtifactError::Invalid(format!(
            "Invalid value of the property '{k}': the character {c:?} is not allowed"
        )));
    }
    Ok(())
}

/// Characters escaped when a path is put back into a URL.
const PATH_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b';')
    .add(b'\\');

/// A stored path rendered for a URL (each segment escaped, slashes kept).
pub fn url_path(path: &str) -> String {
    path.split('/')
        .map(|s| utf8_percent_encode(s, PATH_ESCAPES).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The parent folder of a path (`""` for a top-level item) and its last segment.
pub fn split_parent(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// `a` + `/` + `b`, where either may be the root `""`.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_matrix_and_trailing_slash() {
        let p = RepoPath::parse("libs/a/b.jar;x=1;y=2;x=3").unwrap();
        assert_eq!(p.repo, "libs");
        assert_eq!(p.path, "a/b.jar");
        assert!(!p.trailing_slash);
        assert_eq!(p.matrix["x"], vec!["1", "3"]);
        let p = RepoPath::parse("libs/a/b/").unwrap();
        assert_eq!(p.path, "a/b");
        assert!(p.trailing_slash);
        assert_eq!(RepoPath::parse("libs").unwrap().path, "");
        assert_eq!(RepoPath::parse("libs/a%20b").unwrap().path, "a b");
    }

    #[test]
    fn refuses_escapes() {
        for bad in [
            "libs/../x",
            "libs/a/%2e%2e/x",
            "libs/a/./x",
            "libs/a//x",
            "libs/a%2Fb",
            "libs/a%5Cb",
            "libs/a%00b",
            "libs/a;k=%00",
            "libs/a;k=x%01y",
            "libs/a\\b",
            "libs/%2E%2E",
            "/libs/a/%2e",
        ] {
            assert!(RepoPath::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn url_paths_round_trip() {
        assert_eq!(url_path("a b/c#d"), "a%20b/c%23d");
        let p = RepoPath::parse(&format!("r/{}", url_path("a b/c;d"))).unwrap();
        assert_eq!(p.path, "a b/c;d");
    }
}
