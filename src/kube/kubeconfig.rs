//! Merging one cluster into a kubeconfig file. Other clusters, users and
//! contexts (and fields eksscale does not know) are kept exactly; the file is
//! written atomically with mode 0600, because it says how to get credentials.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

/// One entry eksscale writes: a cluster, a user that runs `eksscale token`,
/// and a context joining them (all under the same name).
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub server: String,
    pub certificate_authority_data: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Where kubeconfig lives by default: the first path in `$KUBECONFIG`, or
/// `~/.kube/config`.
pub fn default_path() -> anyhow::Result<PathBuf> {
    if let Some(k) = std::env::var_os("KUBECONFIG")
        && let Some(first) = std::env::split_paths(&k).find(|p| !p.as_os_str().is_empty())
    {
        return Ok(first);
    }
    let home = dirs::home_dir().context("cannot find the home directory; pass --out PATH")?;
    Ok(home.join(".kube").join("config"))
}

fn upsert(list: &mut Value, item: Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    let arr = list.as_array_mut().expect("array");
    let name = item["name"].clone();
    match arr.iter_mut().find(|e| e["name"] == name) {
        Some(existing) => *existing = item,
        None => arr.push(item),
    }
}

/// Returns the merged kubeconfig text.
pub fn merge(existing: Option<&str>, e: &Entry) -> anyhow::Result<String> {
    let mut doc: Value = match existing.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => {
            serde_saphyr::from_str(text).context("the existing kubeconfig is not valid YAML")?
        }
        None => Value::Null,
    };
    if !doc.is_object() {
        doc = json!({"apiVersion": "v1", "kind": "Config", "preferences": {}});
    }
    let obj = doc.as_object_mut().expect("object");
    for key in ["clusters", "users", "contexts"] {
        obj.entry(key).or_insert_with(|| json!([]));
    }
    upsert(
        &mut obj["clusters"],
        json!({"name": e.name, "cluster": {"server": e.server, "certificate-authority-data": e.certificate_authority_data}}),
    );
    let env: Vec<Value> = e
        .env
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let mut exec = json!({
        "apiVersion": crate::aws::token::EXEC_API_VERSION,
        "command": e.command,
        "args": e.args,
        "interactiveMode": "Never",
        "provideClusterInfo": false,
    });
    if !env.is_empty() {
        exec["env"] = Value::Array(env);
    }
    upsert(
        &mut obj["users"],
        json!({"name": e.name, "user": {"exec": exec}}),
    );
    upsert(
        &mut obj["contexts"],
        json!({"name": e.name, "context": {"cluster": e.name, "user": e.name}}),
    );
    obj.insert("current-context".into(), json!(e.name));
    Ok(serde_saphyr::to_string(&doc)?)
}

/// Writes `text` to `path` via a 0600 temporary file in the same directory
/// and a rename, creating the directory (0700) when needed.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = dir.join(format!(
        ".{}.eksscale-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("kubeconfig"),
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Reads, merges and writes; returns the file written.
pub fn update(path: &Path, e: &Entry) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let merged = merge(existing.as_deref(), e)?;
    write_private(path, &merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry {
            name: name.into(),
            server: "https://ABC.gr7.us-west-2.eks.amazonaws.com".into(),
            certificate_authority_data: "LS0tLS1CRUdJTg==".into(),
            command: "/usr/local/bin/eksscale".into(),
            args: vec![
                "token".into(),
                "--name".into(),
                "demo".into(),
                "--region".into(),
                "us-west-2".into(),
            ],
            env: vec![("AWS_PROFILE".into(), "dev".into())],
        }
    }

    const EXISTING: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster:\n    server: https://other\n    extensions:\n    - name: x\n      extension: {keep: me}\nusers:\n- name: other\n  user:\n    token: abc\ncontexts:\n- name: other\n  context: {cluster: other, user: other, namespace: team}\ncurrent-context: other\n";

    #[test]
    fn merge_adds_one_entry_and_keeps_everything_else() {
        let out = merge(Some(EXISTING), &entry("eksscale-us-west-2-demo")).unwrap();
        let v: Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(v["clusters"].as_array().unwrap().len(), 2);
        assert_eq!(
            v["clusters"][0]["cluster"]["extensions"][0]["extension"]["keep"],
            "me"
        );
        assert_eq!(v["contexts"][0]["context"]["namespace"], "team");
        assert_eq!(v["users"][0]["user"]["token"], "abc");
        assert_eq!(v["current-context"], "eksscale-us-west-2-demo");
        let exec = &v["users"][1]["user"]["exec"];
        assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1beta1");
        assert_eq!(exec["args"][0], "token");
        assert_eq!(exec["env"][0]["value"], "dev");
    }

    #[test]
    fn merge_is_idempotent_and_replaces_its_own_entry() {
        let once = merge(Some(EXISTING), &entry("c")).unwrap();
        let twice = merge(Some(&once), &entry("c")).unwrap();
        assert_eq!(once, twice);
        let mut changed = entry("c");
        changed.server = "https://new".into();
        let v: Value = serde_saphyr::from_str(&merge(Some(&twice), &changed).unwrap()).unwrap();
        assert_eq!(v["clusters"].as_array().unwrap().len(), 2);
        assert_eq!(v["clusters"][1]["cluster"]["server"], "https://new");
    }

    #[test]
    fn written_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("config");
        update(&p, &entry("c")).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A world-readable existing file is replaced by a private one.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        update(&p, &entry("d")).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
