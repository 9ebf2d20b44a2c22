//! Repository names, tags and digests as the distribution spec defines them.

use crate::error::OciError;

/// A repository name inside the binyard repository (`library/alpine`), checked
/// against the spec's grammar, which also keeps it clear of the `_uploads` folder.
#[derive(Clone, Debug, PartialEq)]
pub struct Name(pub String);

impl Name {
    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
    pub fn parse(s: &str) -> Result<Name, OciError> {
        let invalid = || OciError::bad("NAME_INVALID", format!("Invalid repository name '{s}'"));
        if s.is_empty() || s.len() > 255 {
            return Err(invalid());
        }
        for comp in s.split('/') {
            let b = comp.as_bytes();
            let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
                return Err(invalid());
            }
            // Separators: one '.', one or two '_', or any number of '-'.
            let mut i = 0;
            while i < b.len() {
                if alnum(b[i]) {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < b.len() && !alnum(b[i]) {
                    i += 1;
                }
                let sep = &comp[start..i];
                let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
                if !ok {
                    return Err(invalid());
                }
            }
        }
        Ok(Name(s.to_string()))
    }
}

/// A sha256 digest `sha256:{64 hex}`; the hex, lower case.
pub fn parse_digest(s: &str) -> Result<String, OciError> {
    let Some((alg, hex)) = s.split_once(':') else {
        return Err(OciError::bad("DIGEST_INVALID", format!("'{s}' is not a digest")));
    };
    if alg != "sha256" {
        return Err(OciError::bad(
            "DIGEST_INVALID",
            format!("Digest algorithm '{alg}' is not supported: use sha256"),
        ));
    }
    if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
        return Err(OciError::bad("DIGEST_INVALID", format!("'{s}' is not a sha256 digest")));
    }
    Ok(hex.to_string())
}

/// Whether `s` is a digest rather than a tag (tags cannot contain ':').
pub fn is_digest(s: &str) -> bool {
    s.contains(':')
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
pub fn check_tag(s: &str) -> Result<(), OciError> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(OciError::bad("TAG_INVALID", format!("Invalid tag '{s}'")))
    }
}

/// The stored name of a blob file: `sha256__{hex}`, as Artifactory names layers.
pub fn blob_leaf(hex: &str) -> String {
    format!("sha256__{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "library/alpine", "a.b_c__d---e/f0", "x/y/z"] {
            assert!(Name::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "a/",
            "/a",
            "a..b",
            "a___b",
            "_uploads",
            "a/_uploads",
            "-a",
            "a b",
        ] {
            assert!(Name::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digests_and_tags() {
        let hex = "a".repeat(64);
        assert_eq!(parse_digest(&format!("sha256:{hex}")).ok(), Some(hex.clone()));
        assert!(parse_digest(&format!("sha512:{hex}")).is_err());
        assert!(parse_digest("sha256:abc").is_err());
        assert!(check_tag("v1.0_rc-1").is_ok());
        assert!(check_tag(".hidden").is_err());
        assert!(check_tag(&"a".repeat(129)).is_err());
    }
}
