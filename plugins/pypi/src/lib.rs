//! The PyPI APIs (legacy upload, PEP 503/691 simple index) for binyard repositories
//! of package type `pypi`.

use binyard_plugin_sdk::package_type::{Description, Failure, Guest, Request, Response};

struct Pypi;

impl Guest for Pypi {
    fn describe() -> Description {
        Description::new(
            "pypi",
            env!("CARGO_PKG_VERSION"),
            "pypi",
            "PyPI upload and simple index",
        )
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        Err(Failure::not_found(format!(
            "No PyPI route for {} /{}",
            req.method, req.path
        )))
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Pypi);
