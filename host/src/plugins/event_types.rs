//! The format event types, as the WIT declares them: the cases of `event-type` in
//! `wit/0.2.1` (read from the WIT itself, so the host names no format). A case
//! `{domain}-{action}` is the event type `{domain}_{action}` of domain `{domain}`.

use std::sync::LazyLock;

use super::bindings::v0_2::package_type::binyard::plugin::types::EventType;

/// The WIT the host is built with.
const WIT: &str = include_str!("../../../wit/0.2.1/plugin.wit");

/// The cases of `types.event-type`, in declaration order (the order of the
/// generated `EventType` variants), as event type names.
static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let cases = enum_cases(WIT, "types", "event-type").unwrap_or_else(|e| {
        // The WIT is compiled into the host, so this is a build defect.
        tracing::error!(error = %e, "cannot read the event types of the WIT");
        Vec::new()
    });
    cases.iter().map(|c| c.replace('-', "_")).collect()
});

fn enum_cases(wit: &str, interface: &str, ty: &str) -> anyhow::Result<Vec<String>> {
    let mut resolve = wit_parser::Resolve::default();
    resolve.push_source("plugin.wit", wit)?;
    let (_, iface) = resolve
        .interfaces
        .iter()
        .find(|(_, i)| i.name.as_deref() == Some(interface))
        .ok_or_else(|| anyhow::anyhow!("no interface '{interface}'"))?;
    let id = iface
        .types
        .get(ty)
        .ok_or_else(|| anyhow::anyhow!("no type '{ty}' in '{interface}'"))?;
    match &resolve.types[*id].kind {
        wit_parser::TypeDefKind::Enum(e) => Ok(e.cases.iter().map(|c| c.name.clone()).collect()),
        _ => Err(anyhow::anyhow!("'{ty}' is not an enum")),
    }
}

/// Every format event type a plugin may emit.
pub fn all() -> &'static [String] {
    &NAMES
}

/// The event type name of a case.
pub fn name(t: EventType) -> &'static str {
    // The generated enum is fieldless, its variants in the WIT's order.
    NAMES.get(t as usize).map_or("", String::as_str)
}

/// The domain of a format event type (its first word), if it is one.
pub fn domain(event_type: &str) -> Option<&str> {
    NAMES
        .iter()
        .any(|n| n == event_type)
        .then(|| event_type.split('_').next().unwrap_or(event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_types_are_read_from_the_wit() {
        assert!(!all().is_empty());
        assert!(all().iter().all(|n| n.contains('_') && !n.contains('-')));
        for n in all() {
            assert_eq!(domain(n), n.split('_').next());
        }
        assert_eq!(domain("deployed"), None);
        let wit = "package a:b@0.1.0;\ninterface types {\n  /// doc\n  enum e {\n    /// x\n    one-two,\n    three-four,\n  }\n}\n";
        assert_eq!(
            enum_cases(wit, "types", "e").expect("parsed"),
            ["one-two", "three-four"]
        );
        assert!(enum_cases(wit, "types", "f").is_err());
    }
}
