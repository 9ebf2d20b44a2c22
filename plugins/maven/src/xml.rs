//! Reading POMs and client `maven-metadata.xml` (quick-xml into a small tree), and
//! writing the metadata documents the plugin serves.

use quick_xml::Reader;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use crate::layout::Build;

/// Deeper nesting than this is no POM or metadata a client writes.
const MAX_DEPTH: usize = 128;

/// One element: its local name, its text and its child elements.
#[derive(Debug, Default)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The trimmed text of a child element, if it has any.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .filter(|t| !t.is_empty())
    }
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Parses a whole XML document into its root element; any well-formedness error is
/// described with its byte position.
pub fn parse_document(bytes: &[u8]) -> Result<Element, String> {
    let text = String::from_utf8_lossy(bytes);
    let mut reader = Reader::from_str(&text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let at = |r: &Reader<&[u8]>| r.buffer_position();
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("{e} (at byte {})", at(&reader)))?;
        let attach = |el: Element, stack: &mut Vec<Element>, root: &mut Option<Element>| -> Result<(), String> {
            match stack.last_mut() {
                Some(parent) => parent.children.push(el),
                None if root.is_none() => *root = Some(el),
                None => return Err(format!("a second root element <{}>", el.name)),
            }
            Ok(())
        };
        match ev {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                if root.is_some() && stack.is_empty() {
                    return Err("content after the root element".into());
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(Element {
                    name,
                    ..Default::default()
                });
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                attach(
                    Element {
                        name,
                        ..Default::default()
                    },
                    &mut stack,
                    &mut root,
                )?;
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("an end tag without a start tag")?;
                attach(el, &mut stack, &mut root)?;
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| e.to_string())?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(format!("text outside the root element: {:?}", s.trim())),
                }
            }
            Event::CData(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c,
                    None => {
                        let name = r.decode().map_err(|e| e.to_string())?;
                        entity(&name).ok_or_else(|| format!("unknown entity &{name};"))?
                    }
                };
                match stack.last_mut() {
                    Some(el) => el.text.push(c),
                    None => return Err("an entity outside the root element".into()),
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("the document ends inside <{}>", open.name));
    }
    root.ok_or_else(|| "no root element".to_string())
}

/// What binyard reads from a POM: its coordinates (inherited from `<parent>` where absent).
#[derive(Debug, PartialEq, Eq)]
pub struct Pom {
    pub group: Option<String>,
    pub artifact: Option<String>,
    pub version: Option<String>,
}

/// Parses a POM; the error says what is wrong in words for the deployer.
pub fn parse_pom(bytes: &[u8]) -> Result<Pom, String> {
    let root = parse_document(bytes)?;
    if root.name != "project" {
        return Err(format!("the root element is <{}>, not <project>", root.name));
    }
    let parent = root.child("parent");
    let inherited = |name: &str| {
        root.child_text(name)
            .or_else(|| parent.and_then(|p| p.child_text(name)))
    };
    let pom = Pom {
        group: inherited("groupId"),
        artifact: root.child_text("artifactId"),
        version: inherited("version"),
    };
    if pom.artifact.is_none() {
        return Err("it has no <artifactId>".into());
    }
    Ok(pom)
}

/// What binyard reads from a client's `maven-metadata.xml`.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientMetadata {
    pub group: Option<String>,
    pub artifact: Option<String>,
    pub version: Option<String>,
    /// Group-level metadata listing Maven plugins and their prefixes.
    pub has_plugins: bool,
}

/// Parses a client's metadata document.
pub fn parse_client_metadata(bytes: &[u8]) -> Result<ClientMetadata, String> {
    let root = parse_document(bytes)?;
    if root.name != "metadata" {
        return Err(format!("the root element is <{}>, not <metadata>", root.name));
    }
    Ok(ClientMetadata {
        group: root.child_text("groupId"),
        artifact: root.child_text("artifactId"),
        version: root.child_text("version"),
        has_plugins: root.child("plugins").is_some(),
    })
}

type W = Writer<Vec<u8>>;

fn text(w: &mut W, name: &str, value: &str) -> std::io::Result<()> {
    w.create_element(name).write_text_content(BytesText::new(value))?;
    Ok(())
}

fn document(body: impl FnOnce(&mut W) -> std::io::Result<()>) -> Vec<u8> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail.
    let _ = w
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .and_then(|_| body(&mut w));
    let mut out = w.into_inner();
    out.push(b'\n');
    out
}

/// The artifact-level document: every version, the latest and the latest release.
pub fn artifact_metadata(group: &str, artifact: &str, versions: &[String], last_updated: &str) -> Vec<u8> {
    let latest = versions.last();
    let release = versions.iter().rev().find(|v| !crate::layout::is_snapshot(v));
    artifact_metadata_with(
        group,
        artifact,
        latest.map(String::as_str),
        release.map(String::as_str),
        versions,
        last_updated,
    )
}

/// The artifact-level document with its `latest` and `release` given.
pub fn artifact_metadata_with(
    group: &str,
    artifact: &str,
    latest: Option<&str>,
    release: Option<&str>,
    versions: &[String],
    last_updated: &str,
) -> Vec<u8> {
    document(|w| {
        w.create_element("metadata").write_inner_content(|w| {
            text(w, "groupId", group)?;
            text(w, "artifactId", artifact)?;
            w.create_element("versioning").write_inner_content(|w| {
                if let Some(l) = latest {
                    text(w, "latest", l)?;
                }
                if let Some(r) = release {
                    text(w, "release", r)?;
                }
                w.create_element("versions").write_inner_content(|w| {
                    for v in versions {
                        text(w, "version", v)?;
                    }
                    Ok(())
                })?;
                text(w, "lastUpdated", last_updated)
            })?;
            Ok(())
        })?;
        Ok(())
    })
}

/// One `<snapshotVersion>`: the newest build of one classifier and extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotVersion {
    pub classifier: Option<String>,
    pub extension: String,
    pub value: String,
    pub updated: String,
}

/// The version-level document of a SNAPSHOT.
pub fn snapshot_metadata(
    group: &str,
    artifact: &str,
    version: &str,
    latest: Option<&Build>,
    entries: &[SnapshotVersion],
    last_updated: &str,
) -> Vec<u8> {
    document(|w| {
        w.create_element("metadata")
            .with_attribute(("modelVersion", "1.1.0"))
            .write_inner_content(|w| {
                text(w, "groupId", group)?;
                text(w, "artifactId", artifact)?;
                text(w, "version", version)?;
                w.create_element("versioning").write_inner_content(|w| {
                    if let Some(b) = latest {
                        w.create_element("snapshot").write_inner_content(|w| {
                            text(w, "timestamp", &b.timestamp)?;
                            text(w, "buildNumber", &b.number.to_string())
                        })?;
                    }
                    text(w, "lastUpdated", last_updated)?;
                    w.create_element("snapshotVersions").write_inner_content(|w| {
                        for e in entries {
                            w.create_element("snapshotVersion").write_inner_content(|w| {
                                if let Some(c) = &e.classifier {
                                    text(w, "classifier", c)?;
                                }
                                text(w, "extension", &e.extension)?;
                                text(w, "value", &e.value)?;
                                text(w, "updated", &e.updated)
                            })?;
                        }
                        Ok(())
                    })?;
                    Ok(())
                })?;
                Ok(())
            })?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poms() {
        let pom = br#"<?xml version="1.0"?><project xmlns="http://maven.apache.org/POM/4.0.0">
            <parent><groupId>org.p</groupId><version>2</version></parent>
            <artifactId>a&amp;b</artifactId></project>"#;
        let p = parse_pom(pom).unwrap();
        assert_eq!(p.group.as_deref(), Some("org.p"));
        assert_eq!(p.artifact.as_deref(), Some("a&b"));
        assert_eq!(p.version.as_deref(), Some("2"));
        assert!(parse_pom(b"<project><artifactId>x</artifactId>").is_err());
        assert!(parse_pom(b"<project><artifactId>x</groupId></project>").is_err());
        assert!(parse_pom(b"<metadata/>").is_err());
        assert!(parse_pom(b"not xml").is_err());
        assert!(parse_pom(b"<project><artifactId>x</artifactId></project><project/>").is_err());
    }

    #[test]
    fn writes_metadata() {
        let xml = artifact_metadata("g", "a<", &["1.0".into(), "1.1-SNAPSHOT".into()], "20260101000000");
        let s = String::from_utf8(xml).unwrap();
        assert!(s.contains("<artifactId>a&lt;</artifactId>"), "{s}");
        assert!(s.contains("<latest>1.1-SNAPSHOT</latest>"), "{s}");
        assert!(s.contains("<release>1.0</release>"), "{s}");
        let m = parse_client_metadata(s.as_bytes()).unwrap();
        assert_eq!(m.artifact.as_deref(), Some("a<"));
    }
}
