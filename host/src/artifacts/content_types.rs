//! Content types that package-type plugins declare by file extension. They are the
//! server's, like Artifactory's global MIME table: a declared type applies to files
//! with that extension in every repository, and the set follows the loaded plugins.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;

static DECLARED: LazyLock<ArcSwap<HashMap<String, String>>> = LazyLock::new(Default::default);

/// Replaces the declared types (extension without the dot, lower case → type).
pub fn set_declared(types: HashMap<String, String>) {
    DECLARED.store(Arc::new(types));
}

/// The declared type of an extension (lower case, without the dot).
pub fn declared(ext: &str) -> Option<String> {
    DECLARED.load().get(ext).cloned()
}
