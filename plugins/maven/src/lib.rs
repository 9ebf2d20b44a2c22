//! The Maven 2 repository layout for binyard repositories of package type `maven`.

use binyard_plugin_sdk::package_type::{Description, Failure, Guest, Request, Response};

struct Maven;

impl Guest for Maven {
    fn describe() -> Description {
        Description::new("maven", env!("CARGO_PKG_VERSION"), "maven", "Maven 2 repository layout").with_plain_paths()
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        Err(Failure::not_found(format!(
            "No Maven route for {} /{}",
            req.method, req.path
        )))
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Maven);
