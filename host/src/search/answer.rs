//! AQL answers: rows with Artifactory's field names and date format, and the range.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
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

/// One item of an answer, written straight to the output (no JSON tree per row:
/// an answer of hundreds of rows spent as much building `Value`s as reading).
/// Fields come in `shape` order, then `properties` and `stats`.
struct ItemOut<'a> {
    r: &'a ItemRow,
    shape: &'a Shape,
}

impl Serialize for ItemOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (r, shape) = (self.r, self.shape);
        let i = &r.item;
        let blob = i.blob.as_ref();
        let mut m = s.serialize_map(None)?;
        for f in &shape.fields {
            let name = f.name();
            match f {
                Field::Repo => m.serialize_entry(&name, &r.repo)?,
                Field::Path => m.serialize_entry(&name, r.parent())?,
                Field::Name => m.serialize_entry(&name, r.name())?,
                Field::Type => m.serialize_entry(&name, if i.folder { "folder" } else { "file" })?,
                Field::Size => m.serialize_entry(&name, &i.size())?,
                Field::Depth => m.serialize_entry(&name, &r.path.split('/').count())?,
                Field::Created => m.serialize_entry(&name, &iso8601(i.created))?,
                Field::CreatedBy => m.serialize_entry(&name, &i.created_by)?,
                Field::Modified | Field::Updated => m.serialize_entry(&name, &iso8601(i.modified))?,
                Field::ModifiedBy => m.serialize_entry(&name, &i.modified_by)?,
                Field::ActualMd5 => {
                    if let Some(b) = blob {
                        m.serialize_entry(&name, &b.md5)?
                    }
                }
                Field::ActualSha1 => {
                    if let Some(b) = blob {
                        m.serialize_entry(&name, &b.sha1)?
                    }
                }
                Field::Sha256 => {
                    if let Some(b) = blob {
                        m.serialize_entry(&name, &b.sha256)?
                    }
                }
                Field::OriginalMd5 => {
                    if let Some(v) = i.original.md5.as_ref().or(blob.map(|b| &b.md5)) {
                        m.serialize_entry(&name, v)?
                    }
                }
                Field::OriginalSha1 => {
                    if let Some(v) = i.original.sha1.as_ref().or(blob.map(|b| &b.sha1)) {
                        m.serialize_entry(&name, v)?
                    }
                }
                _ => {}
            }
        }
        if let Some(keys) = &shape.properties {
            let wanted = |k: &String| keys.as_ref().is_none_or(|keys| keys.contains(k));
            if i.props.keys().any(wanted) {
                m.serialize_entry("properties", &PropsOut { i, wanted: &wanted })?;
            }
        }
        if shape.stats
            && let Some(st) = r.stats.as_ref().filter(|st| st.downloads > 0)
        {
            m.serialize_entry(
                "stats",
                &[json!({
                    "downloaded": iso8601(st.last_downloaded),
                    "downloaded_by": st.last_downloaded_by,
                    "downloads": st.downloads,
                    "remote_downloads": 0,
                })],
            )?;
        }
        m.end()
    }
}

/// `[{"key":…,"value":…}…]` of the wanted keys (a key without values: one empty value).
struct PropsOut<'a, W> {
    i: &'a crate::storage::Item,
    wanted: &'a W,
}

impl<W: Fn(&String) -> bool> Serialize for PropsOut<'_, W> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Kv<'a> {
            key: &'a str,
            value: &'a str,
        }
        let mut seq = s.serialize_seq(None)?;
        for (k, vs) in self.i.props.iter().filter(|(k, _)| (self.wanted)(k)) {
            if vs.is_empty() {
                seq.serialize_element(&Kv { key: k, value: "" })?;
            }
            for v in vs {
                seq.serialize_element(&Kv { key: k, value: v })?;
            }
        }
        seq.end()
    }
}

/// The rows of an answer, each written as it is serialised.
struct ResultsOut<'a> {
    rows: &'a Rows,
    shape: &'a Shape,
}

impl Serialize for ResultsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        match self.rows {
            Rows::Items(v) => {
                for r in v {
                    seq.serialize_element(&ItemOut { r, shape: self.shape })?;
                }
            }
            Rows::Builds(v) => {
                for r in v {
                    seq.serialize_element(&build_json(r, self.shape))?;
                }
            }
        }
        seq.end()
    }
}

/// `{"results":[…],"range":{…}}`. `total` counts the rows of this answer, as
/// Artifactory's does; `limit` shows when the query (or the result cap) set one.
pub fn aql_bytes(q: &Query, rows: &Rows, limit: Option<u64>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Range {
        start_pos: u64,
        end_pos: u64,
        total: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<u64>,
    }
    #[derive(Serialize)]
    struct Answer<'a> {
        results: ResultsOut<'a>,
        range: Range,
    }
    let shape = q.shape().unwrap_or_default();
    let n = rows.len() as u64;
    let answer = Answer {
        results: ResultsOut { rows, shape: &shape },
        range: Range {
            start_pos: q.offset,
            end_pos: q.offset + n,
            total: n,
            limit,
        },
    };
    let mut out = Vec::with_capacity(256 + rows.len() * 320);
    // Writing to a Vec fails only if a Serialize impl does, and none here do.
    let _ = serde_json::to_writer(&mut out, &answer);
    out
}
