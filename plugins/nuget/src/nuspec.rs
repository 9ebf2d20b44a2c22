//! What binyard reads from a `.nuspec`: identity, descriptive fields, license and
//! dependencies by target framework (quick-xml into a small tree; namespaces of the
//! several nuspec schema versions are ignored by using local names).

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Value, json};

use crate::names::{Version, check_id};

/// Deeper nesting than this is no nuspec.
const MAX_DEPTH: usize = 64;

/// One element: local name, attributes, text and children.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }
    fn text_of(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .filter(|t| !t.is_empty())
    }
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn element(e: &BytesStart) -> Result<Element, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let v = a.unescape_value().map_err(|e| e.to_string())?;
        attrs.push((
            String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
            v.into_owned(),
        ));
    }
    Ok(Element {
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        attrs,
        ..Default::default()
    })
}

fn parse_xml(bytes: &[u8]) -> Result<Element, String> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    fn attach(el: Element, stack: &mut [Element], root: &mut Option<Element>) {
        match stack.last_mut() {
            Some(p) => p.children.push(el),
            None => *root = root.take().or(Some(el)),
        }
    }
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("{e} (at byte {})", reader.buffer_position()))?
        {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                stack.push(element(&e)?);
            }
            Event::Empty(e) => attach(element(&e)?, &mut stack, &mut root),
            Event::End(_) => {
                let el = stack.pop().ok_or("an end tag without a start tag")?;
                attach(el, &mut stack, &mut root);
            }
            Event::Text(t) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&t.decode().map_err(|e| e.to_string())?);
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
                    None => match r.decode().map_err(|e| e.to_string())?.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(format!("unknown entity &{other};")),
                    },
                };
                if let Some(el) = stack.last_mut() {
                    el.text.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("the document ends inside <{}>", open.name));
    }
    root.ok_or_else(|| "no root element".to_string())
}

/// One dependency group: a target framework (empty for any) and its dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub framework: String,
    /// (id, version range as written; empty for any version).
    pub dependencies: Vec<(String, String)>,
}

/// The fields of a `.nuspec` that the feed serves.
#[derive(Debug, Clone)]
pub struct Nuspec {
    pub id: String,
    pub version: Version,
    pub authors: String,
    pub description: String,
    pub title: String,
    pub summary: String,
    pub tags: Vec<String>,
    pub project_url: String,
    pub icon_url: String,
    pub license_expression: String,
    pub license_url: String,
    pub require_license_acceptance: bool,
    pub groups: Vec<Group>,
}

/// Parses and checks a `.nuspec`; the error says what is wrong for the publisher.
pub fn parse(bytes: &[u8]) -> Result<Nuspec, String> {
    let root = parse_xml(bytes).map_err(|e| format!("its .nuspec is not well-formed XML: {e}"))?;
    if !root.name.eq_ignore_ascii_case("package") {
        return Err(format!("its .nuspec's root element is <{}>, not <package>", root.name));
    }
    let md = root.child("metadata").ok_or("its .nuspec has no <metadata>")?;
    let id = md.text_of("id").ok_or("its .nuspec has no <id>")?;
    check_id(&id)?;
    let version_text = md.text_of("version").ok_or("its .nuspec has no <version>")?;
    let version = Version::parse(&version_text)
        .ok_or_else(|| format!("its .nuspec's version '{version_text}' is not a NuGet version"))?;
    let description = md.text_of("description").unwrap_or_default();
    let authors = md.text_of("authors").unwrap_or_default();
    let license = md.child("license");
    let license_expression = license
        .filter(|l| l.attr("type").is_some_and(|t| t.eq_ignore_ascii_case("expression")))
        .map(|l| l.text.trim().to_string())
        .unwrap_or_default();
    let mut groups = Vec::new();
    if let Some(deps) = md.child("dependencies") {
        let dep = |d: &Element| -> Option<(String, String)> {
            d.name.eq_ignore_ascii_case("dependency").then(|| {
                (
                    d.attr("id").unwrap_or_default().to_string(),
                    d.attr("version").unwrap_or_default().to_string(),
                )
            })
        };
        // Old nuspecs list dependencies directly; newer ones in <group>s.
        let flat: Vec<(String, String)> = deps.children.iter().filter_map(dep).collect();
        if !flat.is_empty() {
            groups.push(Group {
                framework: String::new(),
                dependencies: flat,
            });
        }
        for g in deps.children.iter().filter(|c| c.name.eq_ignore_ascii_case("group")) {
            groups.push(Group {
                framework: g.attr("targetFramework").unwrap_or_default().to_string(),
                dependencies: g.children.iter().filter_map(dep).collect(),
            });
        }
        if let Some((bad, _)) = groups
            .iter()
            .flat_map(|g| &g.dependencies)
            .find(|(d, _)| check_id(d).is_err())
        {
            return Err(format!("its .nuspec has a dependency with the bad id '{bad}'"));
        }
    }
    Ok(Nuspec {
        id,
        version,
        authors,
        description,
        title: md.text_of("title").unwrap_or_default(),
        summary: md.text_of("summary").unwrap_or_default(),
        tags: md
            .text_of("tags")
            .unwrap_or_default()
            .split([' ', ',', ';'])
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        project_url: md.text_of("projectUrl").unwrap_or_default(),
        icon_url: md.text_of("iconUrl").unwrap_or_default(),
        license_expression,
        license_url: md.text_of("licenseUrl").unwrap_or_default(),
        require_license_acceptance: md
            .text_of("requireLicenseAcceptance")
            .is_some_and(|t| t.eq_ignore_ascii_case("true")),
        groups,
    })
}

impl Nuspec {
    /// The registration's `dependencyGroups`, dependency ranges pointing at
    /// `registration` (the registration base URL, ending in `/`).
    pub fn dependency_groups(&self, registration: &str) -> Value {
        Value::Array(
            self.groups
                .iter()
                .map(|g| {
                    let deps: Vec<Value> = g
                        .dependencies
                        .iter()
                        .map(|(id, range)| {
                            json!({
                                "@type": "PackageDependency",
                                "id": id,
                                "range": if range.is_empty() { "(, )".to_string() } else { range.clone() },
                                "registration": format!("{registration}{}/index.json", id.to_ascii_lowercase()),
                            })
                        })
                        .collect();
                    let mut o = json!({"@type": "PackageDependencyGroup", "dependencies": deps});
                    if !g.framework.is_empty() {
                        o["targetFramework"] = json!(g.framework);
                    }
                    o
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUSPEC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>Contoso.Utils</id>
    <version>1.2.0.0</version>
    <authors>Contoso &amp; co</authors>
    <description>Utilities</description>
    <license type="expression">MIT</license>
    <tags>a b,c</tags>
    <dependencies>
      <group targetFramework="net6.0">
        <dependency id="Contoso.Core" version="[1.0.0, )" />
      </group>
      <group />
    </dependencies>
  </metadata>
</package>"#;

    #[test]
    fn reads_the_fields() {
        let n = parse(NUSPEC.as_bytes()).unwrap();
        assert_eq!(n.id, "Contoso.Utils");
        assert_eq!(n.version.normalized(), "1.2.0");
        assert_eq!(n.authors, "Contoso & co");
        assert_eq!(n.license_expression, "MIT");
        assert_eq!(n.tags, ["a", "b", "c"]);
        assert_eq!(n.groups.len(), 2);
        assert_eq!(n.groups[0].framework, "net6.0");
        assert_eq!(
            n.groups[0].dependencies,
            [("Contoso.Core".to_string(), "[1.0.0, )".to_string())]
        );
        let g = n.dependency_groups("http://x/registration/");
        assert_eq!(
            g[0]["dependencies"][0]["registration"],
            "http://x/registration/contoso.core/index.json"
        );
    }

    #[test]
    fn refuses_bad_ones() {
        for (doc, want) in [
            (
                "<package><metadata><version>1.0</version></metadata></package>",
                "no <id>",
            ),
            (
                "<package><metadata><id>../x</id><version>1.0</version></metadata></package>",
                "package id",
            ),
            (
                "<package><metadata><id>x</id><version>one</version></metadata></package>",
                "not a NuGet version",
            ),
            ("<package><metadata><id>x</id>", "ends inside"),
            ("<other/>", "root element"),
        ] {
            let err = parse(doc.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{err} (wanted {want})");
        }
    }
}
