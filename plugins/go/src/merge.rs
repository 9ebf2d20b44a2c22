//! Virtual repositories: the members' `@v/list` answers unioned, and of their
//! `@latest` answers the one with the highest version (each member already left
//! out its retracted versions). `.info`, `.mod` and `.zip` never come here: the
//! first member that has the version serves them.

use std::collections::BTreeSet;

use binyard_plugin_sdk::package_type::{Failure, MemberAnswer, Request, Response};
use serde_json::Value;

use crate::local::list_response;
use crate::names::{self, Endpoint, Version};

/// Merges the members' answers to `@v/list` or `@latest`.
pub fn merge(req: &Request, answers: &[MemberAnswer]) -> Result<Response, Failure> {
    let t = names::parse(&req.path).map_err(Failure::not_found)?;
    match t.endpoint {
        Endpoint::List => Ok(list_response(merge_lists(answers.iter().map(|a| a.content.as_slice())))),
        Endpoint::Latest => {
            let best = answers
                .iter()
                .filter_map(|a| {
                    let doc: Value = serde_json::from_slice(&a.content).ok()?;
                    let v = Version::parse(doc.get("Version")?.as_str()?)?;
                    Some((v, a))
                })
                .max_by(|(a, _), (b, _)| a.latest_order(b))
                .ok_or_else(|| Failure::new(502, format!("No member answered a readable @latest for {}", t.module)))?;
            Ok(Response::bytes(200, "application/json", best.1.content.clone())
                .cacheable()
                .metadata())
        }
        Endpoint::File(..) => answers
            .first()
            .map(|a| Response::bytes(200, "application/octet-stream", a.content.clone()))
            .ok_or_else(|| Failure::new(500, "nothing to merge")),
    }
}

/// The versions of every list, once each, in version order (lines that are not
/// versions are dropped).
fn merge_lists<'a>(lists: impl Iterator<Item = &'a [u8]>) -> String {
    let mut all: BTreeSet<String> = BTreeSet::new();
    for l in lists {
        for line in String::from_utf8_lossy(l).lines() {
            let v = line.split_whitespace().next().unwrap_or("");
            if Version::parse(v).is_some() {
                all.insert(v.to_string());
            }
        }
    }
    let mut versions: Vec<Version> = all.iter().filter_map(|v| Version::parse(v)).collect();
    versions.sort();
    versions.into_iter().map(|v| format!("{}\n", v.text)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_unioned_in_version_order() {
        let a = b"v1.0.0\nv1.10.0\n".as_slice();
        let b = b"v1.2.0\nv1.0.0\nnot-a-version\n".as_slice();
        assert_eq!(merge_lists([a, b].into_iter()), "v1.0.0\nv1.2.0\nv1.10.0\n");
    }
}
