//! The GAVC search (`?g=&a=&v=&c=`, `*` and `?` wildcards) over one repository. The
//! host fans the REST search out to each repository and turns paths into storage URIs.

use std::time::Instant;

use binyard_plugin_sdk::package_type::{Failure, Request, Response};

use crate::layout::{self, Coords, join, parse_file};
use crate::metadata::list_all;

/// Whether `text` matches `pattern`, where `*` is any run of characters and `?` one.
pub fn wild_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

struct Query {
    g: Option<String>,
    a: Option<String>,
    v: Option<String>,
    c: Option<String>,
}

impl Query {
    fn matches(&self, co: &Coords) -> bool {
        let m = |p: &Option<String>, t: &str| p.as_deref().is_none_or(|p| wild_match(p, t));
        m(&self.g, &co.group)
            && m(&self.a, &co.artifact)
            && (m(&self.v, &co.version) || m(&self.v, &co.file_version))
            && match (&self.c, &co.classifier) {
                (None, _) => true,
                (Some(p), Some(c)) => wild_match(p, c),
                (Some(_), None) => false,
            }
    }

    /// Whether a version folder may hold matches (a SNAPSHOT folder may hold
    /// timestamped versions that match even when its name does not).
    fn version_folder_may_match(&self, folder: &str) -> bool {
        self.v
            .as_deref()
            .is_none_or(|p| wild_match(p, folder) || layout::is_snapshot(folder))
    }
}

fn too_broad(q: &Query) -> Failure {
    Failure::bad_request(format!(
        "The GAVC search (g={}, a={}) covers more of the repository than one request may walk: \
         give the groupId (and artifactId) without wildcards",
        q.g.as_deref().unwrap_or(""),
        q.a.as_deref().unwrap_or("")
    ))
}

/// `GET -/search/gavc?g=&a=&v=&c=`: `{"results":[{"path":…}]}`.
pub fn gavc(req: &Request, deadline: Instant) -> Result<Response, Failure> {
    let param = |k: &str| {
        req.query_param(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let q = Query {
        g: param("g"),
        a: param("a"),
        v: param("v"),
        c: param("c"),
    };
    if q.g.is_none() && q.a.is_none() && q.v.is_none() && q.c.is_none() {
        return Err(Failure::bad_request(
            "The GAVC search needs at least one of the parameters g, a, v or c",
        ));
    }
    let mut found: Vec<String> = Vec::new();
    match q.g.as_deref() {
        Some(g) if !has_wildcard(g) => {
            // A literal groupId fixes the depth: group/artifact/version/file.
            let gdir = g.replace('.', "/");
            for af in list_all(&gdir).into_iter().filter(|c| c.folder) {
                let artifact = layout::file_name(&af.path).to_string();
                if !q.a.as_deref().is_none_or(|p| wild_match(p, &artifact)) {
                    continue;
                }
                for vf in list_all(&af.path).into_iter().filter(|c| c.folder) {
                    if Instant::now() > deadline {
                        return Err(too_broad(&q));
                    }
                    let version = layout::file_name(&vf.path).to_string();
                    if !q.version_folder_may_match(&version) {
                        continue;
                    }
                    for f in list_all(&vf.path).into_iter().filter(|c| !c.folder) {
                        if let Some(co) = parse_file(g, &artifact, &version, layout::file_name(&f.path))
                            && q.matches(&co)
                        {
                            found.push(f.path);
                        }
                    }
                }
            }
        }
        g => {
            // Walk everything under the literal start of the groupId.
            let start: Vec<&str> = g
                .map(|g| g.split('.').take_while(|s| !has_wildcard(s)).collect())
                .unwrap_or_default();
            let mut stack = vec![start.join("/")];
            while let Some(dir) = stack.pop() {
                if Instant::now() > deadline {
                    return Err(too_broad(&q));
                }
                for c in list_all(&dir) {
                    if c.folder {
                        stack.push(join(&dir, layout::file_name(&c.path)));
                    } else if let Some(co) = layout::parse(&c.path)
                        && q.matches(&co)
                    {
                        found.push(c.path);
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    let results: Vec<serde_json::Value> = found.iter().map(|p| serde_json::json!({ "path": p })).collect();
    Ok(Response::json(
        200,
        serde_json::json!({ "results": results }).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wild_match("org.*", "org.example.app"));
        assert!(wild_match("*app*", "my-app-core"));
        assert!(wild_match("1.?", "1.0"));
        assert!(!wild_match("1.?", "1.10"));
        assert!(wild_match("*", ""));
        assert!(!wild_match("a*b", "acbd"));
    }
}
