//! Host-side bindings of every supported version of `wit/`, one module per version
//! (`v0_1`, `v0_2`). Within a version the shared interfaces (`types`, `log`) are
//! generated once, so one linker serves its three worlds; the versions' interfaces
//! have distinct names (`binyard:plugin/repository@0.1.0` / `@0.2.0`), so both
//! versions live in the same linker and a component of either version instantiates.

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

/// `binyard:plugin@0.2.0`, the latest: the host's own types are these.
pub mod v0_2 {
    /// The `package-type` world.
    pub mod package_type {
        wasmtime::component::bindgen!({
            world: "package-type",
            path: "../wit/0.2.0",
        });
    }

    /// The `retention-policy` world.
    pub mod retention_policy {
        wasmtime::component::bindgen!({
            world: "retention-policy",
            path: "../wit/0.2.0",
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
            path: "../wit/0.2.0",
            with: {
                "binyard:plugin/types": super::package_type::binyard::plugin::types,
                "binyard:plugin/log": super::package_type::binyard::plugin::log,
            },
        });
    }
}
