//! Item properties: the `?properties=` syntax and applying changes to an item or a tree.

use super::ArtifactError;
use super::{Artifacts, blocking, paths::check_property_key, paths::check_property_value};
use crate::clock;
use crate::events::EventRecord;
use crate::storage::Change;

/// One property change: set the values, or remove the key (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyChange {
    pub key: String,
    pub values: Option<Vec<String>>,
}

/// Parses Artifactory's `k=v1,v2;k2=v3` (a `\` escapes `,`, `;`, `=` and itself).
pub fn parse_property_list(s: &str) -> Result<Vec<PropertyChange>, ArtifactError> {
    let mut out = Vec::new();
    for entry in split_unescaped(s, ';') {
        if entry.is_empty() {
            continue;
        }
        let kv = split_unescaped(&entry, '=');
        let key = unescape(&kv[0]);
        check_property_key(&key)?;
        let raw_values = if kv.len() > 1 { kv[1..].join("=") } else { String::new() };
        let values: Vec<String> = split_unescaped(&raw_values, ',').iter().map(|v| unescape(v)).collect();
        for v in &values {
            check_property_value(&key, v)?;
        }
        out.push(PropertyChange {
            key,
            values: Some(values),
        });
    }
    if out.is_empty() {
        return Err(ArtifactError::Invalid("No properties were given".into()));
    }
    Ok(out)
}

/// Splits on `sep` where it is not escaped by a backslash (escapes are kept).
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        let cur = parts.last_mut().expect("never empty");
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(String::new());
        } else {
            cur.push(c);
        }
    }
    parts
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped || c != '\\' {
            out.push(c);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

impl Artifacts {
    /// Applies property changes to an item, and to everything under it when `recursive`.
    pub async fn change_properties(
        &self,
        repo: &str,
        path: &str,
        changes: &[PropertyChange],
        recursive: bool,
        by: &str,
    ) -> Result<(), ArtifactError> {
        let mut targets = Vec::new();
        if !path.is_empty() {
            targets.push((path.to_string(), self.item(repo, path)?));
        }
        if recursive && self.item_or_root(repo, path)?.folder {
            targets.extend(self.walk(repo, path, None)?);
        }
        let now = clock::now_ms();
        let mut batch = Vec::new();
        let mut events = Vec::new();
        for (p, mut item) in targets {
            for c in changes {
                match &c.values {
                    Some(v) => {
                        item.props.insert(c.key.clone(), v.clone());
                        events.push(EventRecord::property("property_added", repo, &p, &item, &c.key, v));
                    }
                    None => {
                        if let Some(old) = item.props.remove(&c.key) {
                            events.push(EventRecord::property("property_deleted", repo, &p, &item, &c.key, &old));
                        }
                    }
                }
            }
            item.modified = now;
            item.modified_by = by.to_string();
            batch.push(Change::Put {
                repo: repo.to_string(),
                path: p,
                item: Box::new(item),
            });
        }
        batch.extend(events.iter().map(EventRecord::change));
        let meta = self.meta.clone();
        Ok(blocking(move || meta.apply(&batch)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        let p = parse_property_list("a=1,2;b=x;c").unwrap();
        assert_eq!(p[0].values, Some(vec!["1".into(), "2".into()]));
        assert_eq!(p[1].key, "b");
        assert_eq!(p[2].values, Some(vec![String::new()]));
        let p = parse_property_list(r"k=a\,b,c\;d").unwrap();
        assert_eq!(p[0].values, Some(vec!["a,b".into(), "c;d".into()]));
        assert!(parse_property_list("=x").is_err());
        assert!(parse_property_list("").is_err());
    }
}
