//! Project names, versions and distribution file names: PEP 503 normalisation and the
//! checks that keep client-chosen names from escaping `{name}/{version}/{filename}`.

/// The PEP 503 normalised form of a project name: runs of `-`, `_` and `.` become
/// one `-`, letters become lower case.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// Whether `name` is a valid project name (PEP 508: ASCII letters and digits, with
/// `.`, `_`, `-` inside).
pub fn valid_project_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 200
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Whether `version` can be a PEP 440 version (the characters it uses, starting and
/// ending with a letter or digit): enough to keep it a single safe path segment.
pub fn valid_version(version: &str) -> bool {
    let b = version.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+' | b'!'))
}

/// Two spellings of one version (case and a leading `v` do not matter).
pub fn same_version(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        let s = s.trim();
        s.strip_prefix(['v', 'V']).unwrap_or(s).to_ascii_lowercase()
    };
    strip(a) == strip(b)
}

/// The kinds of distribution file accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Wheel,
    Sdist,
}

impl Kind {
    /// The `filetype` field twine sends for this kind.
    pub fn filetype(self) -> &'static str {
        match self {
            Kind::Wheel => "bdist_wheel",
            Kind::Sdist => "sdist",
        }
    }
}

/// Extensions of source distributions.
const SDIST_EXTENSIONS: [&str; 2] = [".tar.gz", ".zip"];

/// Extensions of the files a simple page lists (also legacy ones deployed by other means).
const LISTED_EXTENSIONS: [&str; 6] = [".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".egg"];

/// Whether a stored file is a distribution that the simple index lists.
pub fn is_distribution(filename: &str) -> bool {
    LISTED_EXTENSIONS.iter().any(|e| filename.ends_with(e))
}

/// Whether `filename` is a plain file name safe as a path segment.
pub fn safe_filename(filename: &str) -> bool {
    let b = filename.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+' | b'!'))
}

/// Checks that a distribution's file name is a wheel or sdist of `name` at `version`
/// (and of the announced `filetype`, when given); answers its kind or why not.
pub fn check_filename(filename: &str, name: &str, version: &str, filetype: Option<&str>) -> Result<Kind, String> {
    if !safe_filename(filename) {
        return Err(format!(
            "The file name '{filename}' is not a plain distribution file name (letters, digits and . _ - + ! only)"
        ));
    }
    let wanted = normalize(name);
    let kind = if let Some(stem) = filename.strip_suffix(".whl") {
        // {distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl
        let parts: Vec<&str> = stem.split('-').collect();
        if parts.len() != 5 && parts.len() != 6 {
            return Err(format!(
                "'{filename}' is not a wheel file name ({{name}}-{{version}}(-{{build}})?-{{python}}-{{abi}}-{{platform}}.whl)"
            ));
        }
        if normalize(parts[0]) != wanted || !same_version(parts[1], version) {
            return Err(format!(
                "The wheel '{filename}' does not match the upload's name '{name}' and version '{version}'"
            ));
        }
        Kind::Wheel
    } else if let Some(ext) = SDIST_EXTENSIONS.iter().find(|e| filename.ends_with(*e)) {
        let stem = &filename[..filename.len() - ext.len()];
        // The name may contain `-` itself: any split that gives the name and the version.
        let matches = stem
            .match_indices('-')
            .any(|(i, _)| normalize(&stem[..i]) == wanted && same_version(&stem[i + 1..], version));
        if !matches {
            return Err(format!(
                "The source distribution '{filename}' does not match the upload's name '{name}' and version '{version}' ({{name}}-{{version}}{ext} expected)"
            ));
        }
        Kind::Sdist
    } else {
        return Err(format!(
            "'{filename}' is neither a wheel (.whl) nor a source distribution (.tar.gz, .zip): only those are accepted"
        ));
    };
    if let Some(t) = filetype.filter(|t| !t.is_empty())
        && t != kind.filetype()
    {
        return Err(format!(
            "The filetype '{t}' does not match the file '{filename}' (a {} file)",
            kind.filetype()
        ));
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_as_pep_503() {
        assert_eq!(normalize("Foo_Bar"), "foo-bar");
        assert_eq!(normalize("foo.__-bar"), "foo-bar");
        assert_eq!(normalize("FOO"), "foo");
    }

    #[test]
    fn refuses_escapes_and_oddities() {
        assert!(valid_project_name("Foo_Bar.baz-2"));
        for bad in ["", "../x", "a/b", "-a", "a-", "a b", "a..", "ä"] {
            assert!(!valid_project_name(bad), "{bad}");
        }
        assert!(valid_version("1!2.0.post1+local.7"));
        for bad in ["", "..", "1/2", ".1", "1.", "1 2"] {
            assert!(!valid_version(bad), "{bad}");
        }
        assert!(!safe_filename("../a-1.0.tar.gz"));
        assert!(!safe_filename(".hidden"));
    }

    #[test]
    fn checks_file_names() {
        assert_eq!(
            check_filename("foo_bar-1.0-py3-none-any.whl", "Foo-Bar", "1.0", Some("bdist_wheel")),
            Ok(Kind::Wheel)
        );
        assert_eq!(
            check_filename("foo_bar-1.0-1-py3-none-any.whl", "foo.bar", "1.0", None),
            Ok(Kind::Wheel)
        );
        assert_eq!(
            check_filename("Foo-Bar-1.0.tar.gz", "foo_bar", "1.0", Some("sdist")),
            Ok(Kind::Sdist)
        );
        assert!(check_filename("foo-1.1.tar.gz", "foo", "1.0", None).is_err());
        assert!(check_filename("other-1.0-py3-none-any.whl", "foo", "1.0", None).is_err());
        assert!(check_filename("foo-1.0-py3-none-any.whl", "foo", "1.0", Some("sdist")).is_err());
        assert!(check_filename("foo-1.0.exe", "foo", "1.0", None).is_err());
        assert!(check_filename("foo-1.0.whl", "foo", "1.0", None).is_err());
    }
}
