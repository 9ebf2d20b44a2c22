//! Package coordinates: the property keys that name a package and its version, as
//! package-type plugins (and retention policies) declare them. The host finds
//! packages among stored files through them without knowing any format.

use serde::Serialize;

/// Property keys naming a package (see WIT `types.package-coordinates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coordinates {
    /// The group or namespace, for formats that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub name: String,
    pub version: String,
    /// What tells files of one version apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier: Option<String>,
}

impl Coordinates {
    /// The package (`{group}:{name}`, or `{name}`) and version an item's properties
    /// give, when it has every key these coordinates need.
    pub fn package_of<'a>(&self, prop: impl Fn(&str) -> Option<&'a str>) -> Option<(String, String)> {
        let name = prop(&self.name)?;
        let version = prop(&self.version)?;
        let package = match &self.group {
            Some(g) => format!("{}:{name}", prop(g)?),
            None => name.to_string(),
        };
        Some((package, version.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<&'static str> {
        move |k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)
    }

    #[test]
    fn a_package_needs_every_key() {
        let c = Coordinates {
            group: Some("g".into()),
            name: "n".into(),
            version: "v".into(),
            classifier: None,
        };
        assert_eq!(
            c.package_of(lookup(&[("g", "org.acme"), ("n", "app"), ("v", "1.0")])),
            Some(("org.acme:app".into(), "1.0".into()))
        );
        assert_eq!(c.package_of(lookup(&[("n", "app"), ("v", "1.0")])), None);
        let plain = Coordinates { group: None, ..c };
        assert_eq!(
            plain.package_of(lookup(&[("n", "left-pad"), ("v", "1.2.0")])),
            Some(("left-pad".into(), "1.2.0".into()))
        );
    }
}
