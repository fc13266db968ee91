//! Rendering samples into Kubernetes objects: minijinja with strict
//! undefined values and no auto-escaping (templates quote with `tojson`),
//! YAML parsed per file, every object placed in the samples namespace and
//! labelled with its sample, and zone/host spread added to a Deployment of a
//! user's template that has none.

use minijinja::{Environment, UndefinedBehavior, context};
use serde_json::{Value, json};

use super::{Invalid, LABEL_SAMPLE, NAMESPACE, Sample};
use crate::kube::object::{Object, parse_manifests};
use crate::spec::{KedaIdentity, Spec};

/// What the templates are rendered with (docs/samples.md lists the variables).
pub struct Inputs<'a> {
    pub spec: &'a Spec,
    /// The AWS account (or a placeholder when not known, for `render`).
    pub account: &'a str,
    /// The cluster's zones (names).
    pub zones: Vec<String>,
}

/// The `eksscale-samples` namespace: Pod Security `restricted` enforced, so
/// a user's template that asks for more privileges is refused by the API.
fn namespace() -> Object {
    Object::from_value(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/audit": "restricted",
            }
        }
    }))
    .expect("a well-formed object")
}

fn describe(e: &minijinja::Error) -> String {
    let place = match (e.name(), e.line()) {
        (Some(n), Some(l)) => format!("{n}:{l}"),
        (Some(n), None) => n.to_string(),
        _ => "a sample template".to_string(),
    };
    let what = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    // The source line names the value that is missing.
    let line = e
        .template_source()
        .zip(e.line())
        .and_then(|(src, l)| src.lines().nth(l.saturating_sub(1)))
        .map(|l| format!(": `{}`", l.trim()))
        .unwrap_or_default();
    format!("{place}: {what}{line}")
}

/// The spread every sample gets: zones then hosts, ScheduleAnyway, over the
/// Deployment's own pods (the same ReplicaSet).
fn default_spread(selector: &Value) -> Value {
    let one = |key: &str| {
        json!({
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": selector,
            "matchLabelKeys": ["pod-template-hash"],
        })
    };
    json!([
        one("topology.kubernetes.io/zone"),
        one("kubernetes.io/hostname")
    ])
}

/// Adds the default spread to a Deployment without one; whether it did.
pub fn default_spread_added(o: &mut Object) -> bool {
    if o.kind() != "Deployment" {
        return false;
    }
    let selector = o.value["spec"]["selector"].clone();
    let pod = &mut o.value["spec"]["template"]["spec"];
    if !pod.is_object()
        || pod["topologySpreadConstraints"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    {
        return false;
    }
    pod["topologySpreadConstraints"] = default_spread(&selector);
    true
}

fn render_one(sample: &Sample, inputs: &Inputs) -> Result<(Vec<Object>, Vec<String>), Invalid> {
    let spec = inputs.spec;
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // YAML, not HTML: nothing is escaped; values are quoted with `tojson`.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    for (name, text) in &sample.files {
        env.add_template_owned(name.clone(), text.clone())
            .map_err(|e| Invalid(describe(&e)))?;
    }
    let (queue, role_arn) = if sample.queue {
        let name = super::queue_name(&spec.name, &sample.name);
        let dlq = super::dlq_name(&spec.name, &sample.name);
        (
            Some(json!({
                "name": name,
                "url": super::queue_url(spec, inputs.account, &name),
                "arn": super::queue_arn(spec, inputs.account, &name),
                "dlq_arn": super::queue_arn(spec, inputs.account, &dlq),
            })),
            Some(super::role_arn(spec, inputs.account, &sample.name)),
        )
    } else {
        (None, None)
    };
    let base = context! {
        sample => sample.name.as_str(),
        namespace => NAMESPACE,
        cluster => spec.name.as_str(),
        region => spec.region.as_str(),
        kubernetes_version => spec.kubernetes_version.as_str(),
        zones => inputs.zones.clone(),
        identity => match spec.keda.identity {
            KedaIdentity::Irsa => "irsa",
            KedaIdentity::PodIdentity => "pod-identity",
        },
    };
    // `queue` and `role_arn` exist only for samples with `queue: true`, so a
    // template that uses them without it fails (strict undefined) instead of
    // rendering null.
    let ctx = match (queue, role_arn) {
        (Some(q), Some(r)) => context! {
            queue => minijinja::value::Serde(q),
            role_arn => r,
            ..base
        },
        _ => base,
    };
    let mut objects = Vec::new();
    let mut warnings = Vec::new();
    for (name, _) in &sample.files {
        let text = env
            .get_template(name)
            .and_then(|t| t.render(&ctx))
            .map_err(|e| Invalid(describe(&e)))?;
        let parsed = parse_manifests(&text)
            .map_err(|e| Invalid(format!("{name} (sample {}): {e:#}", sample.name)))?;
        for mut o in parsed {
            match o.value["metadata"]["namespace"].as_str() {
                None => o.value["metadata"]["namespace"] = json!(NAMESPACE),
                Some(NAMESPACE) => {}
                Some(other) => {
                    return Err(Invalid(format!(
                        "{name}: {} {} is in namespace {other:?}; sample objects live in {NAMESPACE}",
                        o.kind(),
                        o.name
                    )));
                }
            }
            o.value["metadata"]["labels"][LABEL_SAMPLE] = json!(sample.name);
            let mut o =
                Object::from_value(o.value).map_err(|e| Invalid(format!("{name}: {e:#}")))?;
            if default_spread_added(&mut o) {
                warnings.push(format!(
                    "{name}: Deployment {} has no topologySpreadConstraints; eksscale added zone and host spread (maxSkew 1, ScheduleAnyway)",
                    o.name
                ));
            }
            objects.push(o);
        }
    }
    if objects.is_empty() {
        return Err(Invalid(format!(
            "sample {}: its templates rendered no object",
            sample.name
        )));
    }
    Ok((objects, warnings))
}

/// Every selected sample's objects (the namespace first), and warnings.
pub fn objects(samples: &[Sample], inputs: &Inputs) -> Result<(Vec<Object>, Vec<String>), Invalid> {
    if samples.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut out = vec![namespace()];
    let mut warnings = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for s in samples {
        let (objs, w) = render_one(s, inputs)?;
        for o in objs {
            if !seen.insert((o.kind().to_string(), o.name.clone())) {
                return Err(Invalid(format!(
                    "sample {}: {} {} is also made by another sample",
                    s.name,
                    o.kind(),
                    o.name
                )));
            }
            out.push(o);
        }
        warnings.extend(w);
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::super::{Origin, available};
    use super::*;

    fn spec(identity: &str) -> Spec {
        crate::plan::graph::tests::spec_with(&format!(
            "spec:\n  keda:\n    identity: {identity}\n  samples: [sqs-consumer, cron-scaler, cpu-scaler]\n"
        ))
    }

    fn inputs(spec: &Spec) -> Inputs<'_> {
        Inputs {
            spec,
            account: "123456789012",
            zones: vec!["us-west-2a".into(), "us-west-2b".into()],
        }
    }

    #[test]
    fn built_in_samples_render_with_queue_role_spread_and_labels() {
        for identity in ["irsa", "podIdentity"] {
            let spec = spec(identity);
            let all = available(None).unwrap();
            let chosen: Vec<Sample> = spec.samples.iter().map(|n| all[n].clone()).collect();
            let (objs, warnings) = objects(&chosen, &inputs(&spec)).unwrap();
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_eq!(objs[0].kind(), "Namespace");
            for o in &objs[1..] {
                assert_eq!(o.namespace.as_deref(), Some(NAMESPACE), "{}", o.id());
                assert!(o.value["metadata"]["labels"][LABEL_SAMPLE].is_string());
            }
            for name in ["sqs-consumer", "cron-scaler", "cpu-scaler"] {
                assert!(
                    objs.iter()
                        .any(|o| o.kind() == "ScaledObject" && o.name == name)
                );
                let d = objs
                    .iter()
                    .find(|o| o.kind() == "Deployment" && o.name == name)
                    .unwrap();
                let tsc = &d.value["spec"]["template"]["spec"]["topologySpreadConstraints"];
                assert_eq!(tsc.as_array().unwrap().len(), 2);
            }
            let so = objs
                .iter()
                .find(|o| o.kind() == "ScaledObject" && o.name == "sqs-consumer")
                .unwrap();
            let url = so.value["spec"]["triggers"][0]["metadata"]["queueURL"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(
                url.ends_with("/123456789012/eksscale-demo-sqs-consumer"),
                "{url}"
            );
            let sa = objs
                .iter()
                .find(|o| o.kind() == "ServiceAccount" && o.name == "sqs-consumer")
                .unwrap();
            let ann = &sa.value["metadata"]["annotations"]["eks.amazonaws.com/role-arn"];
            assert_eq!(ann.is_string(), identity == "irsa", "{ann}");
        }
    }

    fn user_sample(files: &[(&str, &str)]) -> Sample {
        Sample {
            name: "mine".into(),
            description: "mine".into(),
            queue: false,
            origin: Origin::Dir {
                path: "/tmp/x/mine".into(),
                overrides: false,
            },
            files: files
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_missing_value_names_the_file_and_line() {
        let spec = spec("irsa");
        let s = user_sample(&[(
            "/tmp/x/mine/10-a.yaml.j2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ sample }}\ndata:\n  q: {{ queue.url | tojson }}\n",
        )]);
        let e = objects(&[s], &inputs(&spec)).unwrap_err().0;
        assert!(e.contains("/tmp/x/mine/10-a.yaml.j2:6"), "{e}");
        assert!(e.contains("queue.url"), "{e}");
    }

    #[test]
    fn bad_yaml_and_nameless_objects_are_refused() {
        let spec = spec("irsa");
        let bad = user_sample(&[("/tmp/x/mine/10-a.yaml.j2", "kind: [unclosed\n")]);
        let e = objects(&[bad], &inputs(&spec)).unwrap_err().0;
        assert!(
            e.contains("10-a.yaml.j2") && e.contains("not valid YAML"),
            "{e}"
        );
        let nameless = user_sample(&[(
            "/tmp/x/mine/10-a.yaml.j2",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        )]);
        let e = objects(&[nameless], &inputs(&spec)).unwrap_err().0;
        assert!(e.contains("without metadata.name"), "{e}");
    }

    #[test]
    fn a_deployment_without_spread_gets_the_default_and_a_warning() {
        let spec = spec("irsa");
        let s = user_sample(&[(
            "/tmp/x/mine/10-a.yaml.j2",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: mine\nspec:\n  selector:\n    matchLabels: {app: mine}\n  template:\n    metadata:\n      labels: {app: mine}\n    spec:\n      containers: [{name: c, image: \"x:1\"}]\n",
        )]);
        let (objs, warnings) = objects(&[s], &inputs(&spec)).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let d = &objs[1];
        crate::keda::assert_zone_and_host_spread(
            &d.value["spec"]["template"]["spec"]["topologySpreadConstraints"],
            &json!({"matchLabels": {"app": "mine"}}),
        );
    }
}
