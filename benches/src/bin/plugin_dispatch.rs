//! Dispatch overhead of a trivial plugin call: a fresh instance per request (what
//! the server does), the same through the server's full dispatch path (permit,
//! the call's thread, deadline, transaction) called from a runtime worker as a
//! request handler calls it, and a reused instance for reference.
//!
//! `cargo xtask plugins && cargo run --release -p binyard-benches --bin plugin_dispatch`

use std::time::Instant;

use binyard_benches::{summary, test_plugin};
use binyard_plugin_testing::TestHost;

const N: usize = 20_000;

fn main() -> anyhow::Result<()> {
    let host = TestHost::new(&test_plugin("test_echo")?)?;
    let req = host.request("GET", "ping");

    let mut fresh = Vec::with_capacity(N);
    for i in 0..N + 1000 {
        let t = Instant::now();
        let mut inst = host.instance()?;
        inst.call(&req)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?
            .map_err(|f| anyhow::anyhow!(f.message))?;
        drop(inst);
        if i >= 1000 {
            fresh.push(t.elapsed());
        }
    }

    // From a task on a runtime worker, as the server's request handlers call it.
    let full = host.dispatch_on_worker(req.clone(), N + 1000)?.split_off(1000);

    let mut inst = host.instance()?;
    let mut reused = Vec::with_capacity(N);
    for i in 0..N + 1000 {
        let t = Instant::now();
        inst.call(&req)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?
            .map_err(|f| anyhow::anyhow!(f.message))?;
        if i >= 1000 {
            reused.push(t.elapsed());
        }
    }

    println!("plugin dispatch, trivial call of test_echo, {N} calls each (µs)");
    println!("{:<46} {:>8} {:>8} {:>8} {:>8}", "", "p50", "p90", "p99", "mean");
    let rows = [
        ("fresh instance per call (instantiate+call+drop)", fresh),
        ("server dispatch path (from a runtime worker)", full),
        ("reused instance (reference)", reused),
    ];
    let mut p50s = Vec::new();
    for (name, d) in rows {
        let (p50, p90, p99, mean) = summary(d);
        p50s.push(p50);
        println!("{name:<46} {p50:>8.1} {p90:>8.1} {p99:>8.1} {mean:>8.1}");
    }
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "fresh/reused p50 ratio: {:.1}x; targets: fresh p50 < 50 µs -> {}; server dispatch path p50 < 40 µs -> {}",
        p50s[0] / p50s[2],
        met(p50s[0] < 50.0),
        met(p50s[1] < 40.0)
    );
    Ok(())
}
