//! The two things a proxy reads in a `go.mod`: the `module` directive (a published
//! `.mod` must name its module) and the `retract` directives (retracted versions are
//! left out of `@latest`).

use crate::names::Version;

/// The largest `go.mod` (the go command's own limit).
pub const MAX_GO_MOD: u64 = 16 << 20;

/// The text of a line without its `//` comment, trimmed.
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("").trim()
}

/// A token without the quotes Go allows around paths and versions.
fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('`').and_then(|s| s.strip_suffix('`')))
        .unwrap_or(s)
}

/// The module path the `module` directive names.
pub fn module_path(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let c = code(l);
        let rest = c.strip_prefix("module")?;
        if !rest.starts_with([' ', '\t']) {
            return None;
        }
        let path = unquote(rest);
        (!path.is_empty()).then(|| path.to_string())
    })
}

/// One `retract` directive: a version or a closed interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retraction {
    low: String,
    high: String,
}

impl Retraction {
    /// Whether `v` lies in the retracted range.
    pub fn covers(&self, v: &Version) -> bool {
        match (Version::parse(&self.low), Version::parse(&self.high)) {
            (Some(lo), Some(hi)) => lo <= *v && *v <= hi,
            _ => false,
        }
    }
}

/// A retraction from the text after `retract` (or a line of a `retract ( … )` block).
fn retraction(spec: &str) -> Option<Retraction> {
    let spec = spec.trim();
    if let Some(inner) = spec.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let (lo, hi) = inner.split_once(',')?;
        return Some(Retraction {
            low: unquote(lo).to_string(),
            high: unquote(hi).to_string(),
        });
    }
    let v = unquote(spec);
    (!v.is_empty()).then(|| Retraction {
        low: v.to_string(),
        high: v.to_string(),
    })
}

/// Every `retract` directive of a go.mod, single-line or in blocks.
pub fn retractions(text: &str) -> Vec<Retraction> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let c = code(line);
        if in_block {
            if c.starts_with(')') {
                in_block = false;
            } else if let Some(r) = retraction(c) {
                out.push(r);
            }
            continue;
        }
        let Some(rest) = c.strip_prefix("retract") else {
            continue;
        };
        let rest = rest.trim();
        if let Some(inside) = rest.strip_prefix('(') {
            let inside = inside.trim();
            match inside.strip_suffix(')') {
                Some(one) => out.extend(retraction(one)),
                None => {
                    in_block = true;
                    out.extend(retraction(inside).filter(|_| !inside.is_empty()));
                }
            }
        } else if !rest.is_empty() {
            out.extend(retraction(rest));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_directive() {
        assert_eq!(
            module_path("// c\nmodule example.com/m // x\n\ngo 1.19\n").unwrap(),
            "example.com/m"
        );
        assert_eq!(module_path("module \"example.com/q\"\n").unwrap(), "example.com/q");
        assert!(module_path("modulex a\n").is_none());
        assert!(module_path("go 1.19\n").is_none());
    }

    #[test]
    fn retract_directives() {
        let text = "module m\n\nretract v1.0.1 // broken\nretract [v1.1.0, v1.1.9]\nretract (\n  // comment\n  v1.3.0\n  [v1.4.0, v1.4.2] // why\n)\n";
        let r = retractions(text);
        assert_eq!(r.len(), 4);
        let v = |s| Version::parse(s).unwrap();
        assert!(r.iter().any(|x| x.covers(&v("v1.0.1"))));
        assert!(r.iter().any(|x| x.covers(&v("v1.1.5"))));
        assert!(r.iter().any(|x| x.covers(&v("v1.3.0"))));
        assert!(r.iter().any(|x| x.covers(&v("v1.4.2"))));
        assert!(!r.iter().any(|x| x.covers(&v("v1.2.0"))));
        assert!(!r.iter().any(|x| x.covers(&v("v1.4.3"))));
    }
}
