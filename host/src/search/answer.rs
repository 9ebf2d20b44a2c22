//! AQL answers: rows with Artifactory's field names and date format, and the range.

use serde_json::{Map, Value, json};

use super::engine::{BuildRow, ItemRow, Rows, build_cell};
use super::query::{BUILD_FIELDS, Cell, Field, Query, Shape};
use crate::clock::iso8601;

fn cell_json(c: Cell) -> Value {
    match c {
        Cell::Text(s) => Value::String(s),
        Cell::Num(n) => json!(n),
        Cell::Date(d) => Value::String(iso8601(d)),
    }
}

fn item_json(r: &ItemRow, shape: &Shape) -> Value {
    let i = &r.item;
    let blob = i.blob.as_ref();
    let mut m = Map::new();
    for f in &shape.fields {
        let v = match f {
            Field::Repo => json!(r.repo),
            Field::Path => json!(r.parent()),
            Field::Name => json!(r.name()),
            Field::Type => json!(if i.folder { "folder" } else { "file" }),
            Field::Size => json!(i.size()),
            Field::Depth => json!(r.path.split('/').count()),
            Field::Created => json!(iso8601(i.created)),
            Field::CreatedBy => json!(i.created_by),
            Field::Modified => json!(iso8601(i.modified)),
            Field::ModifiedBy => json!(i.modified_by),
            Field::Updated => json!(iso8601(i.modified)),
            Field::ActualMd5 => match blob {
                Some(b) => json!(b.md5),
                None => continue,
            },
            Field::ActualSha1 => match blob {
                Some(b) => json!(b.sha1),
                None => continue,
            },
            Field::Sha256 => match blob {
                Some(b) => json!(b.sha256),
                None => continue,
            },
            Field::OriginalMd5 => match i.original.md5.as_ref().or(blob.map(|b| &b.md5)) {
                Some(v) => json!(v),
                None => continue,
            },
            Field::OriginalSha1 => match i.original.sha1.as_ref().or(blob.map(|b| &b.sha1)) {
                Some(v) => json!(v),
                None => continue,
            },
            _ => continue,
        };
        m.insert(f.name(), v);
    }
    if let Some(keys) = &shape.properties {
        let mut props = Vec::new();
        for (k, vs) in &i.props {
            if keys.as_ref().is_some_and(|keys| !keys.contains(k)) {
                continue;
            }
            if vs.is_empty() {
                props.push(json!({"key": k, "value": ""}));
            }
            for v in vs {
                props.push(json!({"key": k, "value": v}));
            }
        }
        if !props.is_empty() {
            m.insert("properties".into(), Value::Array(props));
        }
    }
    if shape.stats
        && let Some(s) = r.stats.as_ref().filter(|s| s.downloads > 0)
    {
        m.insert(
            "stats".into(),
            json!([{
                "downloaded": iso8601(s.last_downloaded),
                "downloaded_by": s.last_downloaded_by,
                "downloads": s.downloads,
                "remote_downloads": 0,
            }]),
        );
    }
    Value::Object(m)
}

fn build_json(r: &BuildRow, shape: &Shape) -> Value {
    let mut m = Map::new();
    for f in &shape.fields {
        let Field::Build(b) = f else { continue };
        if let Some(c) = build_cell(r, *b) {
            m.insert(f.name(), cell_json(c));
        }
    }
    if m.is_empty() {
        for b in BUILD_FIELDS {
            if let Some(c) = build_cell(r, b) {
                m.insert(Field::Build(b).name(), cell_json(c));
            }
        }
    }
    Value::Object(m)
}

/// `{"results":[…],"range":{…}}`. `total` counts the rows of this answer, as
/// Artifactory's does; `limit` shows when the query (or the result cap) set one.
pub fn aql_json(q: &Query, rows: &Rows, limit: Option<u64>) -> Value {
    let shape = q.shape().unwrap_or_default();
    let results: Vec<Value> = match rows {
        Rows::Items(v) => v.iter().map(|r| item_json(r, &shape)).collect(),
        Rows::Builds(v) => v.iter().map(|r| build_json(r, &shape)).collect(),
    };
    let n = results.len() as u64;
    let mut range = json!({"start_pos": q.offset, "end_pos": q.offset + n, "total": n});
    if let Some(l) = limit {
        range["limit"] = json!(l);
    }
    json!({"results": results, "range": range})
}
