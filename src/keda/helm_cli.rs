//! Running the user's `helm`: the version floor, and stopping it gently.
//!
//! On interrupt helm gets SIGTERM and time to finish: helm marks the release
//! failed when its context is cancelled, while a SIGKILLed helm leaves it
//! `pending-install`/`pending-upgrade`, and every later `helm upgrade` then
//! refuses with "another operation (install/upgrade/rollback) is in
//! progress" until someone rolls back by hand.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::AsyncReadExt;

use crate::engine::Cancel;

/// `helm uninstall --wait` appeared in Helm 3.7.0 (helm/helm#9702).
pub const MIN_VERSION: (u32, u32) = (3, 7);

/// How long helm gets to stop after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(60);

/// `(major, minor)` of `helm version --short` output such as `v3.19.0+g3d8990f`.
pub fn parse_version(short: &str) -> Option<(u32, u32)> {
    let v = short.trim().trim_start_matches('v');
    let mut parts = v.split(['.', '+', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Whether this helm is new enough; the error says what to do.
pub fn check_version(helm: &Path, short: &str) -> anyhow::Result<()> {
    match parse_version(short) {
        Some(v) if v >= MIN_VERSION => Ok(()),
        _ => bail!(
            "{} reports version {:?}; eksscale needs Helm {}.{} or later (for `helm uninstall --wait`). Upgrade Helm (https://helm.sh/docs/intro/install/), or set keda.installer: manifest",
            helm.display(),
            short.trim(),
            MIN_VERSION.0,
            MIN_VERSION.1
        ),
    }
}

#[cfg(unix)]
fn terminate(pid: u32) {
    // SAFETY: kill(2) with a pid we spawned and still wait for; no memory is shared.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

#[cfg(not(unix))]
fn terminate(_pid: u32) {}

/// Runs helm; its stdout, or an error with what it printed. With `cancel`,
/// an interrupt sends helm SIGTERM and waits for it to stop.
pub async fn run(helm: &Path, args: &[&str], cancel: Option<&Cancel>) -> anyhow::Result<String> {
    let mut child = tokio::process::Command::new(helm)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", helm.display()))?;
    let (mut out, mut err) = (
        child.stdout.take().context("helm's stdout")?,
        child.stderr.take().context("helm's stderr")?,
    );
    let read_out = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b).await;
        b
    });
    let read_err = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b).await;
        b
    });
    let never = Cancel::default();
    let cancel = cancel.unwrap_or(&never);
    let mut interrupted = false;
    let status = tokio::select! {
        s = child.wait() => s?,
        _ = cancel.cancelled() => {
            interrupted = true;
            if let Some(pid) = child.id() {
                terminate(pid);
            }
            match tokio::time::timeout(GRACE, child.wait()).await {
                Ok(s) => s?,
                Err(_) => {
                    child.kill().await?;
                    bail!("helm did not stop within {}s of SIGTERM and was killed; check the release with `helm status keda -n keda`", GRACE.as_secs());
                }
            }
        }
    };
    let stdout = read_out.await.unwrap_or_default();
    let stderr = read_err.await.unwrap_or_default();
    let first = args.first().copied().unwrap_or_default();
    if interrupted {
        bail!(
            "interrupted: `helm {first}` was asked to stop (SIGTERM) and exited ({status}); helm marks the release failed, and the next `eksscale up` upgrades it"
        );
    }
    if !status.success() {
        bail!(
            "`helm {first}` failed ({status}): {}",
            String::from_utf8_lossy(&stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_below_3_7_are_refused() {
        assert_eq!(parse_version("v3.19.0+g3d8990f"), Some((3, 19)));
        assert_eq!(parse_version("v4.0.1"), Some((4, 0)));
        let helm = Path::new("/usr/bin/helm");
        assert!(check_version(helm, "v3.7.0+geeac838").is_ok());
        assert!(check_version(helm, "v4.0.1").is_ok());
        let e = check_version(helm, "v3.6.3+gd506314")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Helm 3.7 or later"), "{e}");
        assert!(check_version(helm, "v2.17.0").is_err());
        assert!(check_version(helm, "garbage").is_err());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_interrupt_sends_sigterm_and_waits() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-helm");
        let marker = dir.path().join("terminated");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\ntrap 'echo term > {}; exit 3' TERM\nwhile true; do sleep 0.05; done\n",
                marker.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cancel = Cancel::default();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            c.cancel();
        });
        let e = run(&script, &["upgrade"], Some(&cancel)).await.unwrap_err();
        assert!(e.to_string().contains("SIGTERM"), "{e}");
        assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "term");
    }
}
