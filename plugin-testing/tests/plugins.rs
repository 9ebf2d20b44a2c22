//! The harness against the test plugins and a first-party plugin, as a plugin
//! author's unit tests would use it. The plugins are built by `cargo xtask plugins`;
//! outside CI a missing build skips, under `CI=true` it fails.

use binyard_plugin_testing::TestHost;

fn built(dir: &str, name: &str) -> Option<Vec<u8>> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target")
        .join(dir)
        .join(format!("{name}.wasm"));
    match std::fs::read(&p) {
        Ok(w) => Some(w),
        Err(_) => {
            assert!(std::env::var("CI").is_err(), "{} is not built", p.display());
            None
        }
    }
}

#[test]
fn runs_a_plugin_in_memory() {
    let Some(wasm) = built("test-plugins", "test_echo") else {
        return;
    };
    let host = TestHost::new(&wasm).unwrap();
    let r = host.call("GET", "x/y", None).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "echo 1.0.0 GET x/y admin repo=test-repo");
    let r = host.call("PUT", "files/a.txt", Some(b"hello")).unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(host.file("files/a.txt").unwrap(), b"hello");
    let r = host.call("GET", "files/a.txt", None).unwrap();
    assert_eq!(r.body, b"hello");
    let r = host.call("GET", "files/missing", None).unwrap();
    assert_eq!(r.status, 404);
}

/// The Maven plugin, deployed to and read back without a server: the POM is
/// stored as sent, `maven-metadata.xml` is generated from what is stored, and an
/// anonymous deploy is refused with nothing stored.
#[test]
fn maven_generates_metadata_in_memory() {
    let Some(wasm) = built("plugins", "maven") else { return };
    let host = TestHost::new(&wasm).unwrap();
    let pom = b"<project><modelVersion>4.0.0</modelVersion><groupId>org.example</groupId>\
<artifactId>lib</artifactId><version>1.2.0</version><packaging>jar</packaging></project>";
    let r = host
        .call("PUT", "org/example/lib/1.2.0/lib-1.2.0.pom", Some(pom))
        .unwrap();
    assert!(r.status == 201 || r.status == 200, "{} {}", r.status, r.text());
    assert_eq!(host.file("org/example/lib/1.2.0/lib-1.2.0.pom").unwrap(), pom);
    let r = host.call("GET", "org/example/lib/maven-metadata.xml", None).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let xml = r.text();
    assert!(xml.contains("<artifactId>lib</artifactId>"), "{xml}");
    assert!(xml.contains("<version>1.2.0</version>"), "{xml}");
    let r = host
        .call_as("PUT", "org/example/lib/1.3.0/lib-1.3.0.pom", "", Some(pom), None)
        .unwrap();
    assert!(r.status >= 400, "an anonymous deploy was accepted: {}", r.status);
    assert!(host.file("org/example/lib/1.3.0/lib-1.3.0.pom").is_none());
}
