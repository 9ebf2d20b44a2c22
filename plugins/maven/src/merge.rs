//! Virtual repositories: the members' `maven-metadata.xml` merged into one.
//!
//! Artifact-level documents (a `<versions>` list): versions unioned in Maven's
//! order; `latest`, `release` and `lastUpdated` from the newest document (the
//! greatest `lastUpdated`; the first member on a tie). Any other document (a
//! SNAPSHOT's builds, a group's plugins) is the newest one as it is: its newest
//! build is what a client resolves. The checksums of the merged document are
//! computed by the host (`maven-metadata.xml.sha1` answers `checksum_of`).

use binyard_plugin_sdk::package_type::{Failure, MemberAnswer, Response};

use crate::xml::{self, Element};

struct Doc<'a> {
    root: Element,
    bytes: &'a [u8],
}

impl Doc<'_> {
    fn versioning_text(&self, name: &str) -> Option<String> {
        self.root.child("versioning").and_then(|v| v.child_text(name))
    }

    fn last_updated(&self) -> String {
        self.versioning_text("lastUpdated").unwrap_or_default()
    }

    /// The `<versions>` of an artifact-level document.
    fn versions(&self) -> Option<Vec<String>> {
        let list = self.root.child("versioning")?.child("versions")?;
        Some(
            list.children
                .iter()
                .filter(|c| c.name == "version")
                .map(|c| c.text.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect(),
        )
    }
}

/// Merges the members' answers to a `maven-metadata.xml` request.
pub fn merge(answers: &[MemberAnswer]) -> Result<Response, Failure> {
    let docs: Vec<Doc> = answers
        .iter()
        .map(|a| {
            let root = xml::parse_document(&a.content).map_err(|e| {
                Failure::new(
                    502,
                    format!("The maven-metadata.xml of member '{}' is not valid: {e}", a.repo),
                )
            })?;
            Ok(Doc {
                root,
                bytes: &a.content,
            })
        })
        .collect::<Result<_, Failure>>()?;
    let body = merge_docs(&docs).ok_or_else(|| Failure::new(500, "nothing to merge"))?;
    Ok(Response::bytes(200, "application/xml", body).cacheable().metadata())
}

fn merge_docs(docs: &[Doc]) -> Option<Vec<u8>> {
    // The newest: the greatest lastUpdated, the first member on a tie.
    let newest = docs
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| a.last_updated().cmp(&b.last_updated()).then(j.cmp(i)))
        .map(|(_, d)| d)?;
    let all_artifact_level = docs
        .iter()
        .all(|d| d.versions().is_some() && d.root.child("versioning").is_some());
    if !all_artifact_level {
        return Some(newest.bytes.to_vec());
    }
    let mut versions: Vec<String> = Vec::new();
    for d in docs {
        for v in d.versions().unwrap_or_default() {
            if !versions.contains(&v) {
                versions.push(v);
            }
        }
    }
    binyard_plugin_sdk::versions::maven::sort(&mut versions);
    let group = newest.root.child_text("groupId").unwrap_or_default();
    let artifact = newest.root.child_text("artifactId").unwrap_or_default();
    Some(xml::artifact_metadata_with(
        &group,
        &artifact,
        newest.versioning_text("latest").as_deref(),
        newest.versioning_text("release").as_deref(),
        &versions,
        &newest.last_updated(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(bytes: &[u8]) -> Doc<'_> {
        Doc {
            root: xml::parse_document(bytes).unwrap(),
            bytes,
        }
    }

    #[test]
    fn versions_unioned_latest_from_newest() {
        let a = xml::artifact_metadata("g", "a", &["1.0".into(), "1.2".into()], "20260101000000");
        let b = xml::artifact_metadata("g", "a", &["1.1".into(), "1.0".into()], "20260202000000");
        let out = String::from_utf8(merge_docs(&[doc(&a), doc(&b)]).unwrap()).unwrap();
        let m = doc(out.as_bytes());
        assert_eq!(m.versions().unwrap(), ["1.0", "1.1", "1.2"]);
        // b is newer: its latest (1.0, as b wrote it) and lastUpdated win.
        assert_eq!(m.versioning_text("latest").as_deref(), Some("1.0"));
        assert_eq!(m.versioning_text("release").as_deref(), Some("1.0"));
        assert_eq!(m.last_updated(), "20260202000000");
    }

    #[test]
    fn snapshot_documents_newest_wins() {
        let a = br#"<?xml version="1.0"?><metadata><version>1-SNAPSHOT</version><versioning><lastUpdated>2</lastUpdated><snapshotVersions/></versioning></metadata>"#;
        let b = br#"<?xml version="1.0"?><metadata><version>1-SNAPSHOT</version><versioning><lastUpdated>3</lastUpdated><snapshotVersions/></versioning></metadata>"#;
        assert_eq!(merge_docs(&[doc(a), doc(b)]).unwrap(), b.to_vec());
    }
}
