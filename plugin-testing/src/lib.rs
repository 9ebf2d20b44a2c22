//! A test harness for plugin authors: runs a built plugin against an in-memory host
//! (an in-memory metadata store, blobs in a temporary folder, one local repository
//! of the plugin's package type), without starting a server.
//!
//! ```no_run
//! let wasm = std::fs::read("target/wasm32-wasip2/release/my_plugin.wasm").unwrap();
//! let host = binyard_plugin_testing::TestHost::new(&wasm).unwrap();
//! let r = host.call("PUT", "files/a.txt", Some(b"hello")).unwrap();
//! assert_eq!(r.status, 201);
//! assert_eq!(host.file("files/a.txt").unwrap(), b"hello");
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};

use binyard::artifacts::{Artifacts, Txn};
use binyard::auth::{Auth, Caller};
use binyard::config::{PluginsConfig, SecurityConfig};
use binyard::plugins::{Body, LoadedPlugin, PackageInstance, PluginCaller, Plugins, Request, repo_host::RepoHost};
use binyard::repos::{RClass, RepoConfig};
use binyard::storage::{BlobStore, FsBlobStore, MetaStore, RedbMeta, upload};

/// A plugin loaded into an in-memory host.
pub struct TestHost {
    rt: tokio::runtime::Runtime,
    plugins: Arc<Plugins>,
    plugin: Arc<LoadedPlugin>,
    /// The stores the plugin writes to, for inspection.
    pub artifacts: Artifacts,
    /// The repository requests address (key `test-repo`).
    pub repo: Arc<RepoConfig>,
    /// The accounts (`admin` / `password`), for `accounts.login`.
    pub auth: Arc<Auth>,
    dir: PathBuf,
}

/// What the plugin answered, with a named artifact already read.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl TestHost {
    /// Loads `wasm` (a package-type plugin) with default limits.
    pub fn new(wasm: &[u8]) -> anyhow::Result<TestHost> {
        let dir = std::env::temp_dir().join(format!(
            "binyard-testhost-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let config = PluginsConfig {
            dir: dir.join("plugins"),
            watch_interval_ms: 0,
            ..PluginsConfig::default()
        };
        let plugins = Arc::new(Plugins::new(config, &dir)?);
        let (plugin, _) = rt
            .block_on(plugins.install("plugin", wasm.to_vec(), false))
            .map_err(|e| anyhow!("{e}"))?;
        if plugin.package_type.is_empty() {
            return Err(anyhow!("the plugin is not a package type"));
        }
        let meta: Arc<dyn MetaStore> = Arc::new(RedbMeta::in_memory()?);
        let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(&dir)?);
        let auth = Arc::new(Auth::open(
            meta.clone(),
            binyard::repos::Repos::load(meta.clone())?,
            SecurityConfig::default(),
            &dir.join("security"),
        )?);
        auth.bootstrap("password")?;
        let repo = Arc::new(RepoConfig {
            key: "test-repo".into(),
            rclass: RClass::Local,
            package_type: plugin.package_type.clone(),
            description: String::new(),
            notes: String::new(),
            includes_pattern: "**/*".into(),
            excludes_pattern: String::new(),
            repo_layout_ref: "simple-default".into(),
            url: None,
            repositories: None,
            default_deployment_repo: None,
            extra: Default::default(),
        });
        Ok(TestHost {
            rt,
            plugins,
            plugin,
            artifacts: Artifacts {
                meta,
                blobs,
                quota: Arc::new(binyard::artifacts::NoQuota),
            },
            repo,
            auth,
            dir,
        })
    }

    /// A bare request, as the host would build it, for measurements.
    pub fn request(&self, method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: String::new(),
            headers: Vec::new(),
            caller: PluginCaller {
                name: Some("admin".into()),
                admin: true,
                can_delete: true,
            },
            upload: None,
            base_url: "http://127.0.0.1:8081/artifactory/api/test/test-repo".into(),
        }
    }

    /// A new instance of the plugin, to call many times (measurements only).
    pub fn instance(&self) -> anyhow::Result<PackageInstance> {
        self.plugins
            .instantiate(&self.plugin, self.repo_host(self.artifacts.begin(true)))
            .map_err(|e| anyhow!("{e:#}"))
    }

    /// Runs one request the way the server does (permit, fresh instance, deadline,
    /// one transaction for its writes).
    pub fn dispatch(&self, req: Request) -> anyhow::Result<()> {
        self.invoke(|txn| self.repo_host(txn), req)?
            .map_err(|f| anyhow!("{}", f.message))?;
        Ok(())
    }

    /// One request through the server's generic invoke (retries, one transaction).
    fn invoke(
        &self,
        new_host: impl Fn(Txn) -> RepoHost,
        req: Request,
    ) -> anyhow::Result<Result<binyard::plugins::Response, binyard::plugins::Failure>> {
        self.rt
            .block_on(binyard::formats::invoke(
                &self.plugins,
                &self.artifacts,
                &self.plugin,
                new_host,
                req,
            ))
            .map_err(|e| anyhow!("{e}"))
    }

    /// Runs `n` requests one after another the way the server does, from a task on
    /// the runtime's worker thread (where the server's request handlers run, so any
    /// hop to another thread is measured as the server pays it), and answers how
    /// long each took (measurements).
    pub fn dispatch_on_worker(&self, req: Request, n: usize) -> anyhow::Result<Vec<Duration>> {
        let (plugins, plugin) = (self.plugins.clone(), self.plugin.clone());
        let (artifacts, repo, auth) = (self.artifacts.clone(), self.repo.clone(), self.auth.clone());
        let task = self.rt.spawn(async move {
            let mut took = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                let new_host = |txn| admin_host(&artifacts, &repo, &auth, txn);
                binyard::formats::invoke(&plugins, &artifacts, &plugin, new_host, req.clone())
                    .await
                    .map_err(|e| anyhow!("{e}"))?
                    .map_err(|f| anyhow!("{}", f.message))?;
                took.push(t.elapsed());
            }
            Ok(took)
        });
        self.rt.block_on(task)?
    }

    fn repo_host(&self, txn: binyard::artifacts::Txn) -> RepoHost {
        admin_host(&self.artifacts, &self.repo, &self.auth, txn)
    }

    /// Sends a request as the admin user; a named artifact is read into the body.
    pub fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> anyhow::Result<TestResponse> {
        self.call_as(method, path, "", body, Some("admin"))
    }

    /// Sends a request with a query string, as `user` (none: anonymous).
    pub fn call_as(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<&[u8]>,
        user: Option<&str>,
    ) -> anyhow::Result<TestResponse> {
        let (upload, _pin) = match body {
            Some(b) => {
                let (d, pin) = upload::store_bytes(self.artifacts.blobs.as_ref(), b)?;
                (Some(d), Some(pin))
            }
            None => (None, None),
        };
        let caller = Caller {
            user: user.map(str::to_string),
            admin: user == Some("admin"),
            user_grants: user.is_some(),
            ..Default::default()
        };
        let req = Request {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers: Vec::new(),
            caller: PluginCaller {
                name: caller.user.clone(),
                admin: caller.admin,
                can_delete: caller.admin,
            },
            upload: upload.as_ref().map(|d| binyard::plugins::BlobInfo {
                sha256: d.sha256.clone(),
                sha1: d.sha1.clone(),
                md5: d.md5.clone(),
                size: d.size,
            }),
            base_url: "http://127.0.0.1:8081/artifactory/api/test/test-repo".into(),
        };
        let can_delete = req.caller.can_delete;
        let new_host = |txn| RepoHost {
            artifacts: self.artifacts.clone(),
            txn,
            repo: self.repo.clone(),
            caller: caller.clone(),
            can_delete,
            upload: upload.clone(),
            denied: None,
            auth: Some(self.auth.clone()),
            // The harness has no upstream: `upstream.fetch` answers that none is offered.
            remote: None,
            sessions: None,
            emitted: Vec::new(),
            fresh: Default::default(),
        };
        let answer = self.invoke(new_host, req)?;
        Ok(match answer {
            Ok(r) => {
                let body = match r.body {
                    Body::Empty => Vec::new(),
                    Body::Bytes(b) => b,
                    Body::Artifact(p) => self
                        .file(&p)
                        .with_context(|| format!("the plugin named '{p}', which is not stored"))?,
                };
                TestResponse {
                    status: r.status,
                    headers: r.headers,
                    body,
                }
            }
            Err(f) => TestResponse {
                status: f.status,
                headers: Vec::new(),
                body: f.message.into_bytes(),
            },
        })
    }

    /// The bytes of a stored file of the repository.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        let item = self.artifacts.meta.item(&self.repo.key, path).ok()??;
        let b = item.blob?;
        self.artifacts.blobs.read(&b.sha256).ok().map(|b| b.to_vec())
    }
}

/// The repository host of a request by the admin user.
fn admin_host(artifacts: &Artifacts, repo: &Arc<RepoConfig>, auth: &Arc<Auth>, txn: Txn) -> RepoHost {
    RepoHost {
        artifacts: artifacts.clone(),
        txn,
        repo: repo.clone(),
        caller: Caller {
            user: Some("admin".into()),
            admin: true,
            user_grants: true,
            ..Default::default()
        },
        can_delete: true,
        upload: None,
        denied: None,
        auth: Some(auth.clone()),
        remote: None,
        sessions: None,
        emitted: Vec::new(),
        fresh: Default::default(),
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
