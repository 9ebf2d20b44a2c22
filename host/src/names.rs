//! Rules for the names people give things, in a leaf module: the services that
//! store a plugin's name (builds' retention, retention policies) check it
//! without depending on the plugin runtime.

/// Whether `name` is a valid plugin name: 1–64 of `a-z 0-9 - _ .`, starting with a
/// letter or digit.
pub fn plugin_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// Why a plugin name was refused.
pub fn plugin_name_error(name: &str) -> String {
    format!("Invalid plugin name '{name}': use 1 to 64 of a-z, 0-9, '-', '_', '.', starting with a letter or digit")
}
