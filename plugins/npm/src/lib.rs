//! The npm registry API for binyard repositories of package type `npm`.

use binyard_plugin_sdk::package_type::{Description, Failure, Guest, Request, Response};

struct Npm;

impl Guest for Npm {
    fn describe() -> Description {
        Description::new("npm", env!("CARGO_PKG_VERSION"), "npm", "npm registry API")
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        Err(Failure::not_found(format!(
            "No npm route for {} /{}",
            req.method, req.path
        )))
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Npm);
