//! Host-side bindings of the three worlds of `wit/`. The shared interfaces
//! (`types`, `log`) are generated once, so one linker serves every world.

/// The `package-type` world.
pub mod package_type {
    wasmtime::component::bindgen!({
        world: "package-type",
        path: "../wit",
    });
}

/// The `retention-policy` world.
pub mod retention_policy {
    wasmtime::component::bindgen!({
        world: "retention-policy",
        path: "../wit",
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
        path: "../wit",
        with: {
            "binyard:plugin/types": super::package_type::binyard::plugin::types,
            "binyard:plugin/log": super::package_type::binyard::plugin::log,
        },
    });
}
