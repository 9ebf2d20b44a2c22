//! The quick searches as queries of the one engine: each builds the criteria an
//! Artifactory quick search means, so they share its indexes, permission checks and
//! limits.

use super::SearchError;
use super::coordinates::Coordinates;
use super::query::{Crit, Domain, Expr, Field, Op, Query, SortDir, Target, Value};

fn crit(f: Field, op: Op, v: Value) -> Result<Expr, SearchError> {
    Ok(Expr::Cmp(Crit::new(Target::Field(f), op, v)?))
}

fn prop(key: &str, op: Op, v: &str) -> Result<Expr, SearchError> {
    Ok(Expr::Cmp(Crit::new(
        Target::Prop(key.to_string()),
        op,
        Value::Str(v.to_string()),
    )?))
}

/// `$match` when the text has wildcards, `$eq` otherwise.
fn op_for(v: &str) -> Op {
    if v.contains(['*', '?']) { Op::Match } else { Op::Eq }
}

/// The repositories a search is limited to (none: all).
fn in_repos(repos: &[String]) -> Result<Option<Expr>, SearchError> {
    if repos.is_empty() {
        return Ok(None);
    }
    let list = repos
        .iter()
        .map(|r| crit(Field::Repo, Op::Eq, Value::Str(r.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Expr::Or(list)))
}

fn items(mut all: Vec<Expr>, repos: &[String]) -> Result<Query, SearchError> {
    if let Some(r) = in_repos(repos)? {
        all.push(r);
    }
    let mut q = Query::new(Domain::Items);
    q.expr = Expr::And(all);
    q.sort = vec![
        (Field::Repo, SortDir::Asc),
        (Field::Path, SortDir::Asc),
        (Field::Name, SortDir::Asc),
    ];
    Ok(q)
}

/// `/api/search/artifact?name=`: files by name, `*` and `?` wildcards.
pub fn artifact(name: &str, repos: &[String]) -> Result<Query, SearchError> {
    if name.trim().is_empty() {
        return Err(SearchError::Field("The artifact search needs a name".into()));
    }
    items(vec![crit(Field::Name, op_for(name), Value::Str(name.into()))?], repos)
}

/// `/api/search/prop?k=v1,v2`: every key given, with one of its values.
pub fn properties(wanted: &[(String, Vec<String>)], repos: &[String]) -> Result<Query, SearchError> {
    if wanted.is_empty() {
        return Err(SearchError::Field(
            "The property search needs at least one key=value".into(),
        ));
    }
    let mut all = Vec::new();
    for (k, values) in wanted {
        let any: Vec<Expr> = if values.is_empty() || values.iter().all(String::is_empty) {
            vec![prop(k, Op::Match, "*")?]
        } else {
            values.iter().map(|v| prop(k, op_for(v), v)).collect::<Result<_, _>>()?
        };
        all.push(Expr::Or(any));
    }
    items(all, repos)
}

/// The checksum kinds `/api/search/checksum` takes.
#[derive(Debug, Clone, Copy)]
pub enum Checksum {
    Sha256,
    Sha1,
    Md5,
}

/// `/api/search/checksum?sha256=`: files with these bytes.
pub fn checksum(kind: Checksum, value: &str, repos: &[String]) -> Result<Query, SearchError> {
    let (f, len) = match kind {
        Checksum::Sha256 => (Field::Sha256, 64),
        Checksum::Sha1 => (Field::ActualSha1, 40),
        Checksum::Md5 => (Field::ActualMd5, 32),
    };
    let v = value.trim().to_ascii_lowercase();
    if v.len() != len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SearchError::Field(format!(
            "'{value}' is not a checksum of {len} hex digits"
        )));
    }
    items(vec![crit(f, Op::Eq, Value::Str(v))?], repos)
}

/// `/api/search/gavc`: group, artifact, version and classifier over the property
/// keys of the declared coordinates that have a group (any of them may match). None
/// when no declared coordinates can answer (no loaded format has groups, or a
/// classifier is asked of formats without one).
pub fn gavc(
    coordinates: &[Coordinates],
    g: Option<&str>,
    a: Option<&str>,
    v: Option<&str>,
    c: Option<&str>,
    repos: &[String],
) -> Result<Option<Query>, SearchError> {
    fn given(x: Option<&str>) -> Option<&str> {
        x.map(str::trim).filter(|s| !s.is_empty())
    }
    let (g, a, v, c) = (given(g), given(a), given(v), given(c));
    if g.is_none() && a.is_none() && v.is_none() && c.is_none() {
        return Err(SearchError::Field(
            "The GAVC search needs at least one of g (groupId), a (artifactId), v (version), c (classifier)".into(),
        ));
    }
    let mut any = Vec::new();
    for co in coordinates.iter().filter(|co| co.group.is_some()) {
        let keys = [
            (co.group.as_deref(), g),
            (Some(co.name.as_str()), a),
            (Some(co.version.as_str()), v),
            (co.classifier.as_deref(), c),
        ];
        if keys.iter().any(|(key, val)| key.is_none() && val.is_some()) {
            continue;
        }
        let mut all = Vec::new();
        for (key, val) in keys {
            if let (Some(key), Some(val)) = (key, val) {
                all.push(prop(key, op_for(val), val)?);
            }
        }
        any.push(all);
    }
    match any.len() {
        0 => Ok(None),
        1 => items(any.remove(0), repos).map(Some),
        _ => items(vec![Expr::Or(any.into_iter().map(Expr::And).collect())], repos).map(Some),
    }
}

/// The date fields `/api/search/dates` takes.
pub fn date_field(name: &str) -> Option<Field> {
    match name.trim() {
        "created" => Some(Field::Created),
        "lastModified" => Some(Field::Modified),
        "lastDownloaded" => Some(Field::StatDownloaded),
        _ => None,
    }
}

fn range(f: Field, from: Option<i64>, to: Option<i64>) -> Result<Expr, SearchError> {
    let mut all = Vec::new();
    if let Some(from) = from {
        all.push(crit(f, Op::Gte, Value::Num(from as f64))?);
    }
    if let Some(to) = to {
        all.push(crit(f, Op::Lte, Value::Num(to as f64))?);
    }
    if all.is_empty() {
        // Any value: the field is set.
        all.push(crit(f, Op::Ne, Value::Null)?);
    }
    Ok(Expr::And(all))
}

/// `/api/search/dates` and `/api/search/creation`: items with any of the fields in the range.
pub fn dates(fields: &[Field], from: Option<i64>, to: Option<i64>, repos: &[String]) -> Result<Query, SearchError> {
    let any = fields
        .iter()
        .map(|f| range(*f, from, to))
        .collect::<Result<Vec<_>, _>>()?;
    items(vec![Expr::Or(any)], repos)
}

/// `/api/search/usage`: files not downloaded since `not_used_since` (or never),
/// created before `created_before`.
pub fn usage(not_used_since: i64, created_before: Option<i64>, repos: &[String]) -> Result<Query, SearchError> {
    let idle = Expr::Or(vec![
        crit(Field::StatDownloaded, Op::Lt, Value::Num(not_used_since as f64))?,
        crit(Field::StatDownloads, Op::Eq, Value::Null)?,
    ]);
    let created = crit(
        Field::Created,
        Op::Lt,
        Value::Num(created_before.unwrap_or(not_used_since) as f64),
    )?;
    items(vec![created, idle], repos)
}

/// `/api/search/pattern?pattern=repo:path`: the files of one repository whose path
/// matches, `*` and `?` within a folder name, `**` any number of folders. The query
/// reads the range of the pattern's literal start; `pattern_match` decides.
pub fn pattern(repo: &str, pattern: &str) -> Result<Query, SearchError> {
    let lit = super::query::literal_prefix(pattern);
    let parent = match lit.rfind('/') {
        Some(i) => &lit[..i],
        None => "",
    };
    let mut all = vec![crit(Field::Repo, Op::Eq, Value::Str(repo.into()))?];
    if !parent.is_empty() {
        all.push(crit(Field::Path, Op::Match, Value::Str(format!("{parent}*")))?);
    }
    items(all, &[])
}

/// Whether a path matches a pattern of `/api/search/pattern`.
pub fn pattern_match(pattern: &str, path: &str) -> bool {
    fn seg(p: &[&str], t: &[&str]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((&"**", rest)) => (0..=t.len()).any(|i| seg(rest, &t[i..])),
            Some((first, rest)) => !t.is_empty() && super::query::wildcard(first, t[0]) && seg(rest, &t[1..]),
        }
    }
    let p: Vec<&str> = pattern.split('/').collect();
    let t: Vec<&str> = path.split('/').collect();
    // `**` runs are bounded by the depth of a path; patterns longer than 64 parts are refused by the caller.
    seg(&p, &t)
}

/// Version order, simplified (Artifactory's latestVersion order): numeric parts compare as numbers, qualifiers
/// after them (a release sorts after its SNAPSHOT and other qualifiers).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(v: &str) -> Vec<(u64, String)> {
        v.split(['.', '-', '_'])
            .map(|p| match p.parse::<u64>() {
                Ok(n) => (n, String::new()),
                Err(_) => (0, p.to_ascii_lowercase()),
            })
            .collect()
    }
    let (pa, pb) = (parts(a), parts(b));
    for i in 0..pa.len().max(pb.len()) {
        let o = match (pa.get(i), pb.get(i)) {
            (Some(x), Some(y)) => match (x.1.is_empty(), y.1.is_empty()) {
                (true, true) => x.0.cmp(&y.0),
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                (false, false) => x.1.cmp(&y.1),
            },
            // 1.0 > 1.0-SNAPSHOT, 1.0.1 > 1.0
            (Some(x), None) => {
                if x.1.is_empty() {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                }
            }
            (None, Some(y)) => {
                if y.1.is_empty() {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            }
            (None, None) => std::cmp::Ordering::Equal,
        };
        if o.is_ne() {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(pattern_match("a/**/*.war", "a/b/c/x.war"));
        assert!(pattern_match("a/**/*.war", "a/x.war"));
        assert!(!pattern_match("a/*.war", "a/b/x.war"));
        assert!(pattern_match("*/x?.jar", "b/x1.jar"));
    }

    #[test]
    fn versions() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("1.10", "1.9"), Greater);
        assert_eq!(compare_versions("1.0", "1.0-SNAPSHOT"), Greater);
        assert_eq!(compare_versions("1.0.1", "1.0"), Greater);
        assert_eq!(compare_versions("2.0-beta", "2.0"), Less);
        assert_eq!(compare_versions("1.0", "1.0"), Equal);
    }
}
