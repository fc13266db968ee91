//! The annotated starter file written by `eksscale init`.

use crate::catalog::KUBERNETES_VERSIONS;

const TEMPLATE: &str = include_str!("../../templates/init/eksscale.yaml.j2");

/// Renders the starter config for a cluster name and region.
pub fn render(name: &str, region: &str) -> anyhow::Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Plain YAML scalars (minijinja would JSON-quote them); the result is
    // parsed and validated before it is written, so nothing can slip through.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_template("eksscale.yaml", TEMPLATE)?;
    let out = env
        .get_template("eksscale.yaml")?
        .render(minijinja::context! {
            name => name,
            region => region,
            versions => KUBERNETES_VERSIONS.join(", "),
        })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    #[test]
    fn starter_is_valid_and_matches_the_defaults() {
        let text = render("demo", "us-west-2").unwrap();
        let explicit = parse("starter", &text, None).unwrap().spec;
        let minimal = parse(
            "minimal",
            "apiVersion: eksscale.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: demo\n  region: us-west-2\n",
            None,
        )
        .unwrap()
        .spec;
        assert_eq!(format!("{explicit:?}"), format!("{minimal:?}"));
    }
}
