//! The bad-input corpus: every file in tests/bad-configs/ must be rejected
//! with exit code 2, its expected message (first line `# expect: ...`) on
//! stderr with a file location, and without a single AWS call. To prove the
//! last point the AWS endpoint is a local socket that records connections.

use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn tripwire() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if conn.is_ok() {
                h.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (format!("http://{addr}"), hits)
}

#[test]
fn every_bad_config_is_rejected_before_any_aws_call() {
    let dir = crate::common::repo_path("tests/bad-configs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "the corpus must have at least 20 files, has {}",
        files.len()
    );
    let (endpoint, hits) = tripwire();
    let home = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks a first line `# expect: <message>`", f.display()))
            .to_string();
        for command in ["plan", "up"] {
            let out = Command::new(env!("CARGO_BIN_EXE_eksscale"))
                .args([command, "-f"])
                .arg(f)
                .env("AWS_ENDPOINT_URL", &endpoint)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env_remove("AWS_REGION")
                .env_remove("AWS_DEFAULT_REGION")
                .env_remove("AWS_PROFILE")
                .env("HOME", home.path())
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_CONFIG_FILE", home.path().join("none"))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let file = f.display().to_string();
            if out.status.code() != Some(2) || !stderr.contains(&expect) || !stderr.contains(&file)
            {
                failures.push(format!(
                    "{} ({command}): exit {:?}, expected {expect:?} with the file name; stderr:\n{stderr}",
                    f.file_name().unwrap().to_string_lossy(),
                    out.status.code()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a bad config caused an AWS call"
    );
}

#[test]
fn missing_config_file_is_a_usage_error_that_suggests_init() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eksscale"))
        .current_dir(dir.path())
        .arg("plan")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("eksscale init"));
}
