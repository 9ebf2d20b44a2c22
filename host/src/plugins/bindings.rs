//! Host-side bindings of every supported version of `wit/`, one module per
//! incompatible version (`v0_1`, `v0_2`). Within a version the shared interfaces
//! (`types`, `log`) are generated once, so one linker serves its three worlds; the
//! versions' interfaces have distinct names (`binyard:plugin/repository@0.1.0` /
//! `@0.2.1`), so both live in the same linker and a component of either instantiates.
//!
//! Minor versions only add functions (`0.2.1` adds `upstream.fetch-with` to `0.2.0`),
//! so one module serves a whole line: wasmtime resolves a `0.2.0` component's
//! imports and exports by semver to the `0.2.1` ones (its imports are a subset, and
//! the exports are the same functions), and `wit_version` says which it was built for.

/// `binyard:plugin@0.1.0`, served through the adapter in `imports/v0_1.rs`.
pub mod v0_1 {
    /// The `package-type` world.
    pub mod package_type {
        wasmtime::component::bindgen!({
            world: "package-type",
            path: "../wit/0.1.0",
        });
    }

    /// The `retention-policy` world.
    pub mod retention_policy {
        wasmtime::component::bindgen!({
            world: "retention-policy",
            path: "../wit/0.1.0",
            with: {
                "binyard:plugin/types": super::package_type::binyard::plugin::types,
                "binyard:plugin/log": super::package_type::binyard::plugin::log,
            },
        });
    }

    /// The `webhook-formatter` world.
    pub mod webhook_formatter {
        wasmtime::component::bindgen!({
            world: "webhook-formatter",
            path: "../wit/0.1.0",
            with: {
                "binyard:plugin/types": super::package_type::binyard::plugin::types,
                "binyard:plugin/log": super::package_type::binyard::plugin::log,
            },
        });
    }
}

/// `binyard:plugin@0.2.1`, the latest, serving `@0.2.0` components too: the host's
/// own types are these.
pub mod v0_2 {
    /// The `package-type` world.
    pub mod package_type {
        wasmtime::component::bindgen!({
            world: "package-type",
            path: "../wit/0.2.1",
        });
    }

    /// The `retention-policy` world.
    pub mod retention_policy {
        wasmtime::component::bindgen!({
            world: "retention-policy",
            path: "../wit/0.2.1",
            with: {
                "binyard:plugin/types": super::package_type::binyard::plugin::types,
                "binyard:plugin/log": super::package_type::binyard::plugin::log,
            },
        });
    }

    /// The `webhook-formatter` world.
    pub mod webhook_formatter {
        wasmtime::component::bindgen!({
            world: "webhook-formatter",
            path: "../wit/0.2.1",
            with: {
                "binyard:plugin/types": super::package_type::binyard::plugin::types,
                "binyard:plugin/log": super::package_type::binyard::plugin::log,
            },
        });
    }
}

/// The `binyard:plugin` version `component` was built for, read from its exports
/// (`binyard:plugin/format@0.2.0`…): a `0.2.x` component instantiates with the
/// `v0_2` bindings whatever its patch number.
pub fn wit_version(component: &wasmtime::component::Component, engine: &wasmtime::Engine) -> Option<String> {
    component.component_type().exports(engine).find_map(|(name, _)| {
        name.strip_prefix("binyard:plugin/")?
            .split_once('@')
            .map(|(_, v)| v.to_string())
    })
}
