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
    yaml_11_safe(&doc)
}

/// YAML that readers following YAML 1.1 (client-go's and helm's
/// `sigs.k8s.io/yaml`, PyYAML) read back with the same types: strings such
/// as `no`, `on`, `y`, `0755`, `1e3` or `12:30` are quoted, since 1.1 reads
/// them as booleans, numbers or sexagesimals.
pub fn yaml_11_safe<T: serde::Serialize>(v: &T) -> anyhow::Result<String> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.yaml_12 = false;
    Ok(serde_saphyr::to_string_with_options(v, options)?)
}

/// Writes `text` to `path` via an exclusive 0600 temporary file with an
/// unpredictable name in the same directory and a rename (never following a
/// planted symlink), creating the directory (0700) when needed.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
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
    // O_CREAT|O_EXCL, mode 0600, random name (tempfile).
    let mut tmp = tempfile::Builder::new()
        .prefix(".eksscale-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// The file a kubeconfig path really is: a symlinked `~/.kube/config` (dotfile
/// managers) is written through to its target, not replaced by a plain file.
fn real_path(path: &Path) -> anyhow::Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path)
            .with_context(|| format!("following the symlink {}", path.display())),
        _ => Ok(path.to_path_buf()),
    }
}

/// `<file>.lock`, taken with an exclusive create as client-go's
/// `clientcmd` does, so concurrent writers (kubectl, aws eks
/// update-kubeconfig, another eksscale) never lose each other's entries.
struct Lock(PathBuf);

impl Lock {
    fn acquire(file: &Path) -> anyhow::Result<Self> {
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        let lock = PathBuf::from(name);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(_) => return Ok(Lock(lock)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if std::time::Instant::now() >= deadline {
                        anyhow::bail!(
                            "{} is locked by another writer ({} exists); if no kubectl or eksscale is running, delete that file",
                            file.display(),
                            lock.display()
                        );
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("locking {}", file.display()));
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reads, merges and writes under the lock, through a symlink to its target.
pub fn update(path: &Path, e: &Entry) -> anyhow::Result<()> {
    let path = real_path(path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let _lock = Lock::acquire(&path)?;
    let existing = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let merged = merge(existing.as_deref(), e)?;
    write_private(&path, &merged)
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
    fn yaml_1_1_booleans_and_numbers_stay_strings() {
        let mut e = entry("no");
        // What YAML 1.1 readers (client-go, helm) take for booleans, numbers, null, dates.
        const AMBIGUOUS: [&str; 9] = [
            "on",
            "y",
            "Yes",
            "0755",
            "1e3",
            "12:30",
            "~",
            "null",
            "2026-01-01",
        ];
        e.args = AMBIGUOUS.iter().map(|s| s.to_string()).collect();
        e.env = vec![("AWS_PROFILE".into(), "off".into())];
        let out = merge(None, &e).unwrap();
        for s in AMBIGUOUS.iter().chain(&["no", "off"]) {
            assert!(
                out.contains(&format!("'{s}'")) || out.contains(&format!("\"{s}\"")),
                "{s} unquoted in:\n{out}"
            );
        }
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
    fn concurrent_writers_keep_every_entry() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let p = p.clone();
                std::thread::spawn(move || update(&p, &entry(&format!("c{i}"))).unwrap())
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(v["contexts"].as_array().unwrap().len(), 8);
        assert!(
            !dir.path().join("config.lock").exists(),
            "the lock is released"
        );
    }

    #[test]
    fn a_symlinked_kubeconfig_is_written_through_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dotfiles").join("kubeconfig");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, EXISTING).unwrap();
        let link = dir.path().join("config");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        update(&link, &entry("c")).unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "still a symlink"
        );
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
        assert_eq!(v["contexts"].as_array().unwrap().len(), 2);
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
