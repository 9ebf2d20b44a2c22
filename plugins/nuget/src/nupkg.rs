//! A package's `.nuspec`, read from the `.nupkg` (a zip) by ranges: the end
//! record, the central directory, then the one entry; the rest of the package never
//! crosses into the plugin.

/// The largest `.nuspec` read.
pub const MAX_NUSPEC: u64 = 4 << 20;

pub use binyard_plugin_zip::Source;
use binyard_plugin_zip::{Entry, entries, read_entry};
/// The bytes of the package's root `*.nuspec` (there must be exactly one).
pub fn nuspec(src: &dyn Source) -> Result<Vec<u8>, String> {
    let all = entries(src)?;
    let found: Vec<&Entry> = all
        .iter()
        .filter(|e| !e.name.contains('/') && e.name.to_ascii_lowercase().ends_with(".nuspec"))
        .collect();
    match found.as_slice() {
        [one] => read_entry(src, one, MAX_NUSPEC),
        [] => Err("it has no .nuspec file at its root".into()),
        _ => Err("it has more than one .nuspec file at its root".into()),
    }
}
