//! Ctrl-C during `up`: running steps finish, nothing new starts, the exit code
//! is 130 and the message says how to resume or clean up; `up` then resumes.
//! Uses an emulator of its own whose EKS clusters take 20 s to create.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Emulator, Workspace, unique_name};

#[test]
fn interrupted_up_stops_cleanly_and_resumes() {
    let emulator = Emulator::start(&[("EMULATOR_EKS_CLUSTER_CREATE_SECONDS", "20")]);
    let name = unique_name("intr");
    let ws = Workspace::new();
    ws.config(
        &name,
        "us-west-2",
        "  vpc:\n    zones: 2\n    natGateway: none\n  keda:\n    enabled: false\n  samples: []\n",
    );
    let mut child = ws
        .command(&emulator.url, &["up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("up never waited for the cluster:\n{}", seen.join("\n")));
        let waiting = line.contains("waiting for cluster");
        seen.push(line);
        if waiting {
            break;
        }
    }
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let rest: Vec<String> = rx.try_iter().collect();
    seen.extend(rest);
    let stderr = seen.join("\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(130),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stderr.contains("interrupted: letting"), "{stderr}");
    assert!(
        stdout.contains("eksscale up") && stdout.contains("eksscale down"),
        "says how to go on: {stdout}"
    );
    // Node groups depend on the cluster, so they were never started.
    assert!(!stderr.contains("nodegroup/general: create"), "{stderr}");

    // Resume: up finishes the job (the cluster becomes ACTIVE in the emulator).
    let resumed = ws.command(&emulator.url, &["up"]).output().unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let down = ws
        .command(&emulator.url, &["down", "--yes"])
        .output()
        .unwrap();
    assert_eq!(
        down.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}
