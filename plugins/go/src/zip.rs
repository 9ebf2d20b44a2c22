//! A module zip checked by the module zip rules, read by ranges (only the end
//! record, the central directory and the root `go.mod` are read; the files' own
//! bytes never cross into the plugin): every file under `{module}@{version}/`, file
//! paths the go command accepts, no duplicates or paths equal but for case, the
//! sizes within the go command's limits.

use std::collections::HashSet;

pub use binyard_plugin_zip::Source;
use binyard_plugin_zip::{entries, read_entry};

use crate::gomod::MAX_GO_MOD;

/// The largest module zip and the most its files may hold unpacked (the go
/// command's limits).
pub const MAX_ZIP: u64 = 500 << 20;
/// The largest LICENSE file.
const MAX_LICENSE: u64 = 16 << 20;
/// Whether a file path inside a module is one the go command accepts: relative,
/// `/`-separated, no empty, `.` or `..` elements, no characters that are special
/// to shells or file systems.
fn check_file_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("an empty file path".into());
    }
    for elem in path.split('/') {
        if elem.is_empty() || elem == "." || elem == ".." {
            return Err(format!("'{path}' has an empty, '.' or '..' element"));
        }
        if let Some(c) = elem
            .chars()
            .find(|&c| c.is_control() || matches!(c, '"' | '\'' | '*' | ':' | ';' | '<' | '>' | '?' | '\\' | '`' | '|'))
        {
            return Err(format!(
                "'{path}' has the character {c:?}, which module file paths may not have"
            ));
        }
    }
    Ok(())
}

/// Checks the zip of `module`@`version` and answers its root `go.mod`, if it has one.
pub fn check(src: &dyn Source, module: &str, version: &str) -> Result<Option<Vec<u8>>, String> {
    if src.size() > MAX_ZIP {
        return Err(format!(
            "it has {} bytes; a module zip has at most {MAX_ZIP}",
            src.size()
        ));
    }
    let all = entries(src)?;
    let prefix = format!("{module}@{version}/");
    let mut seen = HashSet::new();
    let mut folded = HashSet::new();
    let mut total: u64 = 0;
    let mut go_mod = None;
    for e in &all {
        let Some(rel) = e.name.strip_prefix(&prefix) else {
            return Err(format!("its file '{}' is not under '{prefix}'", e.name));
        };
        // Folder entries are harmless; the go command writes none.
        if rel.is_empty() || rel.ends_with('/') {
            continue;
        }
        check_file_path(rel)?;
        if !seen.insert(rel) {
            return Err(format!("it has the file '{rel}' twice"));
        }
        if !folded.insert(rel.to_lowercase()) {
            return Err(format!(
                "it has files whose paths differ only in case ('{rel}' and another): they collide on case-insensitive file systems"
            ));
        }
        total = total.saturating_add(e.size);
        if total > MAX_ZIP {
            return Err(format!("its files hold more than {MAX_ZIP} bytes unpacked"));
        }
        if rel == "go.mod" {
            if e.size > MAX_GO_MOD {
                return Err(format!("its go.mod has {} bytes (at most {MAX_GO_MOD})", e.size));
            }
            go_mod = Some(e);
        }
        if rel == "LICENSE" && e.size > MAX_LICENSE {
            return Err(format!("its LICENSE has {} bytes (at most {MAX_LICENSE})", e.size));
        }
    }
    if seen.is_empty() {
        return Err(format!("it has no files under '{prefix}'"));
    }
    go_mod.map(|e| read_entry(src, e, MAX_GO_MOD)).transpose()
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A stored (uncompressed) zip of `files`, each entry declaring `size` when given.
    pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in files {
            let off = out.len() as u32;
            let crc = crc32fast::hash(data);
            let mut h = Vec::new();
            h.extend_from_slice(b"PK\x03\x04");
            h.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            cd.extend_from_slice(b"PK\x01\x02");
            cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            cd.extend_from_slice(&crc.to_le_bytes());
            cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0; 12]);
            cd.extend_from_slice(&off.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
        }
        let cd_off = out.len() as u32;
        out.extend_from_slice(&cd);
        out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    struct Mem(Vec<u8>);
    impl Source for Mem {
        fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
            let s = (offset as usize).min(self.0.len());
            let e = (s + len as usize).min(self.0.len());
            Ok(self.0[s..e].to_vec())
        }
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
    }

    #[test]
    fn a_good_zip_gives_its_go_mod() {
        let z = zip_of(&[
            ("example.com/m@v1.0.0/go.mod", b"module example.com/m\n"),
            ("example.com/m@v1.0.0/m.go", b"package m\n"),
        ]);
        let got = check(&Mem(z), "example.com/m", "v1.0.0").unwrap();
        assert_eq!(got.unwrap(), b"module example.com/m\n");
        let z = zip_of(&[("example.com/m@v1.0.0/m.go", b"package m\n")]);
        assert!(check(&Mem(z), "example.com/m", "v1.0.0").unwrap().is_none());
    }

    #[test]
    fn bad_zips_are_refused() {
        let cases: Vec<(Vec<(&str, &[u8])>, &str)> = vec![
            (
                vec![("example.com/m@v1.0.0/a.go", b"x"), ("evil/a.go", b"x")],
                "not under",
            ),
            (vec![("example.com/m@v1.0.1/a.go", b"x")], "not under"),
            (vec![("example.com/m@v1.0.0/../a.go", b"x")], "'..'"),
            (
                vec![("example.com/m@v1.0.0/a.go", b"x"), ("example.com/m@v1.0.0/a.go", b"y")],
                "twice",
            ),
            (
                vec![("example.com/m@v1.0.0/A.go", b"x"), ("example.com/m@v1.0.0/a.go", b"y")],
                "only in case",
            ),
            (vec![("example.com/m@v1.0.0/a:b.go", b"x")], "character"),
        ];
        for (files, want) in cases {
            let err = check(&Mem(zip_of(&files)), "example.com/m", "v1.0.0").unwrap_err();
            assert!(err.contains(want), "{err} (wanted {want})");
        }
        assert!(
            check(&Mem(b"not a zip at all, just text".to_vec()), "example.com/m", "v1.0.0")
                .unwrap_err()
                .contains("not a zip")
        );
    }
}
