//! Reaching the cluster's Kubernetes API, and applying and deleting
//! manifests there. Like `aws/`, nothing here prints: progress goes through
//! the engine's events.
//!
//! By default the client is built from the EKS cluster itself (endpoint, CA,
//! and a user that runs `eksscale token`, so kube-rs refreshes the token
//! before it expires); `--kubeconfig PATH [--context NAME]` reaches clusters
//! through a tunnel or proxy, and the tests' fake API server.

pub mod apply;
pub mod calls;
pub mod kubeconfig;
pub mod object;
pub mod proxy;
pub mod prune;
pub mod readiness;
pub mod release;
pub mod steps;

use std::path::PathBuf;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Where the Kubernetes API is.
#[derive(Debug, Clone)]
pub enum Target {
    /// The EKS cluster's own endpoint, authenticated with `eksscale token`.
    Eks(kubeconfig::Entry),
    /// A kubeconfig file (and optionally one of its contexts).
    File {
        path: PathBuf,
        context: Option<String>,
    },
}

/// Builds a client for the target.
pub async fn client(target: &Target) -> anyhow::Result<kube::Client> {
    let config = match target {
        Target::Eks(entry) => {
            let text = kubeconfig::merge(None, entry)?;
            let kc: Kubeconfig =
                serde_saphyr::from_str(&text).context("building the in-memory kubeconfig")?;
            let options = KubeConfigOptions {
                context: Some(entry.name.clone()),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .context("configuring the Kubernetes client for the EKS endpoint")?
        }
        Target::File { path, context } => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            let options = KubeConfigOptions {
                context: context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
    };
    let mut config = config;
    proxy::apply(&mut config);
    Ok(kube::client::ClientBuilder::try_from(config)
        .context("creating the Kubernetes client")?
        .with_layer(&calls::layer())
        .build())
}

/// Checks `--kubeconfig PATH [--context NAME]` before anything changes: the
/// file exists and parses, and the context (or its current-context) is in it.
pub fn check_file_access(path: &std::path::Path, context: Option<&str>) -> Result<(), String> {
    let kc = Kubeconfig::read_from(path).map_err(|e| {
        format!(
            "--kubeconfig {}: {e}; give a kubeconfig file that exists, or leave --kubeconfig out to reach the EKS endpoint",
            path.display()
        )
    })?;
    let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    let wanted = context.or(kc.current_context.as_deref());
    match wanted {
        Some(c) if names.contains(&c) => Ok(()),
        Some(c) => Err(format!(
            "--kubeconfig {}: no context {c:?} in it (contexts: {}); pick one with --context",
            path.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )),
        None => Err(format!(
            "--kubeconfig {}: it sets no current-context; pick one with --context ({})",
            path.display(),
            names.join(", ")
        )),
    }
}

/// The kubeconfig entry that reaches an EKS cluster through `eksscale token`.
pub fn eks_entry(name: &str, cluster: &str, region: &str, endpoint: &str, ca: &str) -> Entry {
    let command = exec_command(
        std::env::current_exe().ok().as_deref(),
        which::which("eksscale").ok().as_deref(),
    );
    let mut env = Vec::new();
    if let Ok(profile) = std::env::var("AWS_PROFILE")
        && !profile.is_empty()
    {
        env.push(("AWS_PROFILE".to_string(), profile));
    }
    Entry {
        name: name.to_string(),
        server: endpoint.to_string(),
        certificate_authority_data: ca.to_string(),
        command,
        args: ["token", "--name", cluster, "--region", region]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        env,
    }
}

/// The command the kubeconfig runs for a token: bare `eksscale` when that
/// is what PATH finds for this very binary, so the entry survives upgrades
/// through Homebrew, mise or nix (whose versioned paths change); otherwise
/// the absolute path of this binary (run from a build directory, say).
pub fn exec_command(
    current: Option<&std::path::Path>,
    on_path: Option<&std::path::Path>,
) -> String {
    let same = |a: &std::path::Path, b: &std::path::Path| match (a.canonicalize(), b.canonicalize())
    {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    match (current, on_path) {
        (Some(c), Some(p)) if same(c, p) => "eksscale".to_string(),
        (Some(c), _) => c
            .to_str()
            .map(str::to_string)
            .unwrap_or_else(|| "eksscale".into()),
        (None, _) => "eksscale".to_string(),
    }
}

pub use kubeconfig::Entry;

/// Default context name for a cluster.
pub fn context_name(cluster: &str, region: &str) -> String {
    format!("eksscale-{region}-{cluster}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exec_command_is_bare_when_path_finds_this_binary() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("Cellar-1.2.3-eksscale");
        std::fs::write(&real, "").unwrap();
        let link = dir.path().join("eksscale");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        // Homebrew: PATH has a symlink to the versioned file that runs.
        assert_eq!(exec_command(Some(&real), Some(&link)), "eksscale");
        // Run from elsewhere (a build directory): its absolute path.
        let other = dir.path().join("target-eksscale");
        std::fs::write(&other, "").unwrap();
        assert_eq!(
            exec_command(Some(&other), Some(&link)),
            other.to_str().unwrap()
        );
        assert_eq!(exec_command(Some(&other), None), other.to_str().unwrap());
    }
}
