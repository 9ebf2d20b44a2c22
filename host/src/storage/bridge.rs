//! A private tokio runtime for the stores that speak to a network service
//! (PostgreSQL, S3). The store traits are synchronous and are called both from
//! blocking threads and directly from async handlers; so their async clients run on
//! this runtime and the caller waits on a plain channel. `Runtime::block_on` (or
//! `Handle::block_on`) would panic inside the server's runtime; a channel does not,
//! and the wait is no longer than the equivalent redb disk read.

use std::future::Future;

/// Owns the runtime; dropping it stops the runtime without waiting (it may be dropped
/// on an async thread, where a blocking shutdown would panic).
pub struct Bridge {
    rt: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    /// A runtime of `threads` workers named `name`.
    pub fn new(name: &str, threads: usize) -> std::io::Result<Bridge> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(name)
            .enable_all()
            .build()?;
        Ok(Bridge { rt: Some(rt) })
    }

    /// The runtime, to spawn tasks that outlive one call (streams of bytes).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        // Only `drop` takes the runtime out.
        self.rt
            .as_ref()
            .map(|r| r.handle())
            .expect("the runtime lives until drop")
    }

    /// Runs `fut` on the runtime and waits for its output; `None` when the task died
    /// (a panic in a client library), which callers report as unavailability.
    pub fn run<T, F>(&self, fut: F) -> Option<T>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().ok()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
