//! A full disk: the data folder lives on a small file system the test mounts itself
//! (tmpfs; a loop-mounted ext4 image when tmpfs cannot be mounted). Writes that
//! cannot be stored are refused with 507 and the Artifactory error body, nothing
//! partial is kept, reads keep working, health says so, and writes resume by
//! themselves once space is free again — without a restart.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use binyard_e2e::{Launch, Method, Options, Server, json, plugins_dir};
use common::{assert_absent, assert_content, bytes_of, deploy, snapshot, temp_files};

/// A small file system mounted for one test, unmounted on drop.
struct SmallFs {
    mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallFs {
    /// Mounts `mib` MiB of tmpfs (or a loop ext4 image); `None` when neither can be
    /// mounted here (not root): then the test is skipped, except under CI.
    fn mount(mib: u64) -> Option<SmallFs> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).expect("mount point");
        let tmpfs = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
        let mounted = tmpfs || {
            let img = dir.path().join("fs.img");
            let made = std::fs::File::create(&img).and_then(|f| f.set_len(mib << 20)).is_ok()
                && Command::new("mkfs.ext4")
                    .args(["-q", "-F"])
                    .arg(&img)
                    .status()
                    .is_ok_and(|s| s.success());
            made && Command::new("mount")
                .args(["-o", "loop"])
                .arg(&img)
                .arg(&mnt)
                .status()
                .is_ok_and(|s| s.success())
        };
        if !mounted {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "cannot mount a small file system (tmpfs or loop): the disk-full tests need root"
            );
            eprintln!("SKIPPED: cannot mount a small file system (needs root)");
            return None;
        }
        eprintln!(
            "disk-full test on {}",
            if tmpfs { "tmpfs" } else { "a loop-mounted ext4 image" }
        );
        Some(SmallFs { mnt, _dir: dir })
    }

    /// Fills the file system completely with a ballast file.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.ballast()).expect("ballast");
        let block = vec![0x5au8; 64 << 10];
        while f.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
    }

    /// Frees the ballast's space.
    fn free(&self) {
        std::fs::remove_file(self.ballast()).expect("remove ballast");
    }

    fn ballast(&self) -> PathBuf {
        self.mnt.join("ballast")
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
    }
}

fn start_on(fs: &SmallFs, reserve_mib: u64) -> Server {
    let data = fs.mnt.join("data");
    Server::launch(
        Options::default(),
        Launch {
            data_dir: Some(data),
            storage_config: format!("reserve_free_mib = {reserve_mib}"),
            capture_log: true,
            ..Launch::default()
        },
        &plugins_dir(),
        "",
    )
}

fn put(s: &Server, path: &str, bytes: &[u8]) -> (u16, serde_json::Value) {
    let r = s
        .admin(Method::PUT, &format!("/artifactory/files/{path}"))
        .body(bytes.to_vec())
        .send()
        .expect("deploy");
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

fn assert_disk_full(status: u16, body: &serde_json::Value) {
    assert_eq!(status, 507, "a write on a full disk: {body}");
    let msg = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert_eq!(body["errors"][0]["status"], 507, "{body}");
    assert!(
        msg.contains("disk is full"),
        "the message should say the disk is full: {body}"
    );
}

fn health(s: &Server) -> (u16, serde_json::Value) {
    let r = s
        .anon(Method::GET, "/router/api/v1/system/health")
        .send()
        .expect("health");
    (r.status().as_u16(), json(r))
}

fn no_temp_files(s: &Server, data: &Path) {
    assert!(temp_files(s).is_empty(), "partial uploads left in {}", data.display());
}

#[test]
fn full_disk_below_the_reserve_refuses_writes_serves_reads_and_recovers() {
    let Some(fs) = SmallFs::mount(64) else { return };
    let s = start_on(&fs, 8);
    s.create_local_repo("files", "generic");
    let kept: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("kept/f{i}.bin"), bytes_of(100_000 + i, i as u64)))
        .collect();
    for (p, b) in &kept {
        deploy(&s, "files", p, b);
    }
    let before = snapshot(&s, "files");

    fs.fill();
    let (status, body) = put(&s, "late/big.bin", &bytes_of(2 << 20, 7));
    assert_disk_full(status, &body);
    let (status, body) = put(&s, "late/small.txt", b"tiny");
    assert_disk_full(status, &body);
    let r = s
        .admin(Method::PUT, "/artifactory/api/storage/files/kept/f0.bin?properties=a=1")
        .send()
        .expect("properties");
    assert_eq!(r.status().as_u16(), 507, "a property change on a full disk");
    // Reads go on; nothing partial is kept; health says why writes fail.
    for (p, b) in &kept {
        assert_content(&s, "files", p, b);
    }
    assert_absent(&s, "files", "late/big.bin");
    assert_absent(&s, "files", "late/small.txt");
    assert_eq!(snapshot(&s, "files"), before);
    no_temp_files(&s, &s.data_dir());
    let (status, h) = health(&s);
    assert_eq!(status, 503, "health on a full disk: {h}");
    assert_eq!(h["router"]["state"], "UNHEALTHY", "{h}");
    assert!(
        h["router"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("disk is full"),
        "{h}"
    );

    // Space comes back: writes resume by themselves.
    fs.free();
    deploy(&s, "files", "late/big.bin", &bytes_of(2 << 20, 7));
    assert_content(&s, "files", "late/big.bin", &bytes_of(2 << 20, 7));
    for (p, b) in &kept {
        assert_content(&s, "files", p, b);
    }
    let (status, h) = health(&s);
    assert_eq!(status, 200, "health after space came back: {h}");
}

#[test]
fn full_disk_without_a_reserve_reopens_the_database_when_space_is_freed() {
    let Some(fs) = SmallFs::mount(64) else { return };
    // No reserve: the database itself runs into ENOSPC (and redb then refuses every
    // transaction until it is reopened).
    let s = start_on(&fs, 0);
    s.create_local_repo("files", "generic");
    let kept: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("kept/f{i}.bin"), bytes_of(50_000 + i, 10 + i as u64)))
        .collect();
    for (p, b) in &kept {
        deploy(&s, "files", p, b);
    }

    fs.fill();
    let (status, body) = put(&s, "late/big.bin", &bytes_of(1 << 20, 3));
    assert_disk_full(status, &body);
    // Metadata-only writes until the database itself fails.
    let mut db_failed = false;
    for i in 0..200 {
        let r = s
            .admin(
                Method::PUT,
                &format!(
                    "/artifactory/api/storage/files/kept/f0.bin?properties=k{i}={}",
                    "v".repeat(2000)
                ),
            )
            .send()
            .expect("properties");
        match r.status().as_u16() {
            204 => continue,
            507 => {
                db_failed = true;
                break;
            }
            other => panic!(
                "a write on a full disk answered {other}: {}",
                r.text().unwrap_or_default()
            ),
        }
    }
    assert!(db_failed, "the database never ran out of space");
    // Later writes are refused cleanly too, not with redb's "Previous I/O error".
    let (status, body) = put(&s, "late/empty.txt", b"");
    assert!(
        status == 507 || status == 503,
        "a write after the database's I/O error: {status} {body}"
    );
    assert_absent_or_unavailable(&s, "late/empty.txt");

    fs.free();
    // Without a restart: the database is reopened and writes and reads resume.
    let mut ok = false;
    for _ in 0..50 {
        if put(&s, "late/after.txt", b"after").0 == 201 {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(ok, "writes did not resume after space was freed");
    assert_content(&s, "files", "late/after.txt", b"after");
    for (p, b) in &kept {
        assert_content(&s, "files", p, b);
    }
    assert_absent(&s, "files", "late/big.bin");
    assert_absent(&s, "files", "late/empty.txt");
    let log = s.log();
    assert!(
        !log.contains("Previous I/O error occurred"),
        "redb's error reached a client or log:\n{log}"
    );
    let floods = log.matches("cannot read the event outbox").count();
    assert!(floods <= 2, "the outbox error was logged {floods} times:\n{log}");
}

/// While the database reopens, a read may be 503 for a moment; never a stored item.
fn assert_absent_or_unavailable(s: &Server, path: &str) {
    let r = s
        .admin(Method::GET, &format!("/artifactory/files/{path}"))
        .send()
        .expect("download");
    assert!(matches!(r.status().as_u16(), 404 | 503), "{path}: {}", r.status());
}
