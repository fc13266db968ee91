//! Command-line interface definitions (clap derive) and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "One small YAML file to a production-shaped Amazon EKS cluster with KEDA event-driven autoscaling, and back to nothing.";

const LONG_ABOUT: &str = "\
eksscale turns eksscale.yaml into a multi-AZ VPC, least-privilege IAM roles, an EKS \
cluster with IRSA and Pod Identity, managed node groups spread over the zones, KEDA \
installed highly available, and sample workloads that scale on events. Every run \
discovers what exists (by tags), shows or applies only the difference, and can be \
repeated safely. `down` removes everything again, including what Kubernetes left behind.

AWS credentials, region, profile and endpoint come from the standard AWS SDK chain \
(AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, SSO, ...).";

const AFTER: &str = "\
Typical session:
  eksscale init --name demo --region us-west-2   # write eksscale.yaml
  eksscale plan                                  # what would change
  eksscale up                                    # create or converge
  eksscale status                                # what exists
  eksscale down --yes                            # delete it all

Exit codes:
  0  success (plan --exit-code: no changes)
  1  runtime failure (an AWS or Kubernetes operation failed, or down left resources)
  2  usage or configuration error (nothing was changed)
  3  plan --exit-code: changes pending
  130 interrupted (Ctrl-C); run the same command again to resume

Docs: docs/configuration.md, docs/architecture.md, docs/ci.md, docs/troubleshooting.md";

#[derive(Debug, Parser)]
#[command(name = "eksscale", version, about = ABOUT, long_about = LONG_ABOUT, after_long_help = AFTER)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Cluster definition file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "eksscale.yaml",
        env = "EKSSCALE_FILE"
    )]
    pub file: PathBuf,
    /// Output format: human text, or JSON for machines (events as JSON lines, then one summary object).
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Do not ask for confirmation (required for destructive commands without a terminal).
    #[arg(long, global = true)]
    pub yes: bool,
    /// Show unchanged resources and more detail.
    #[arg(short = 'v', long = "verbose", global = true)]
    pub verbose: bool,
    /// Reach Kubernetes through this kubeconfig instead of the EKS endpoint
    /// (for clusters behind a tunnel or proxy).
    #[arg(long, global = true, env = "EKSSCALE_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Context to use from --kubeconfig (default: its current context).
    #[arg(long, global = true, requires = "kubeconfig")]
    pub context: Option<String>,
    /// Most AWS operations in flight at once.
    #[arg(long, global = true, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write an annotated starter eksscale.yaml.
    #[command(
        long_about = "Write an annotated starter eksscale.yaml with every field and its default.\n\nNever overwrites an existing file unless --force is given.",
        after_help = "Examples:\n  eksscale init\n  eksscale init --name payments-dev --region eu-central-1\n  eksscale init -f clusters/ci.yaml --force"
    )]
    Init(InitArgs),

    /// Show what `up` would change, resource by resource.
    #[command(
        long_about = "Discover what exists (read-only AWS calls) and show, for every resource the config implies, whether `up` would create it, update it (and which fields), leave it alone, or refuse because the change would need a replacement. Resources tagged for the cluster but no longer in the config are listed for deletion.",
        after_help = "Examples:\n  eksscale plan\n  eksscale plan -o json | jq '.summary'\n  eksscale plan --exit-code   # 0 = nothing to do, 3 = changes pending\n  eksscale plan --timeline    # modelled time-to-ready and its critical path"
    )]
    Plan(PlanArgs),

    /// Create or converge everything in the config.
    #[command(
        long_about = "Create or converge the VPC, IAM roles and the rest of the cluster. Independent resources are created concurrently; each step finds its resource by tag first, so running `up` again only does what is missing (a second run makes no mutating AWS call). If a step fails, everything created so far is kept and the message says how to continue.",
        after_help = "Examples:\n  eksscale up\n  eksscale up -f clusters/ci.yaml -o json > up.jsonl\n  CI=1 eksscale up            # plain timestamped progress lines"
    )]
    Up(UpArgs),

    /// Show what exists for a cluster.
    #[command(
        long_about = "List every AWS resource tagged for the cluster, found by tags alone. Works from the config file or from --name and --region.",
        after_help = "Examples:\n  eksscale status\n  eksscale status --name demo --region us-west-2 -o json"
    )]
    Status(TargetArgs),

    /// Delete everything eksscale made for a cluster, and prove it is gone.
    #[command(
        long_about = "Delete every resource eksscale made for the cluster (both tags eksscale.io/cluster and eksscale.io/region) in reverse dependency order, including what Kubernetes or EKS made for it in the VPC (load balancers, ENIs, security groups tagged for the cluster). Works from --name and --region alone. Never touches what eksscale does not own: a same-named cluster made by another tool, or anything else in the VPC, is reported and left alone (a VPC something else still uses is kept, and the blockers are named). Ends by discovering again: exits 1 listing anything still there. Safe to re-run after a partial failure; deleting nothing is a success.\n\nLists what it will delete, grouped by kind, and asks for the cluster name; without a terminal it refuses unless --yes is given.",
        after_help = "Examples:\n  eksscale down                       # lists what it deletes, asks for confirmation\n  eksscale down --dry-run             # list what would be deleted\n  eksscale down --name demo --region us-west-2 --yes\n  eksscale down --yes --keep-logs     # keep the control-plane logs (audit trail)"
    )]
    Down(DownArgs),

    /// Write (merge) a kubeconfig entry that authenticates with `eksscale token`.
    #[command(
        long_about = "Merge one cluster, user and context into a kubeconfig file (default: the first path in $KUBECONFIG, else ~/.kube/config), leaving every other entry untouched. The user runs `eksscale token`, so kubectl works without the AWS CLI. The file is written with mode 0600. Prints the context name.",
        after_help = "Examples:\n  eksscale kubeconfig --name demo --region us-west-2\n  eksscale kubeconfig --out ./demo.kubeconfig --alias demo\n  kubectl --context \"$(eksscale kubeconfig)\" get nodes"
    )]
    Kubeconfig(KubeconfigArgs),

    /// Print an EKS authentication token as a client-go ExecCredential.
    #[command(
        long_about = "Print an ExecCredential (client.authentication.k8s.io/v1beta1) whose token is a presigned STS GetCallerIdentity URL for the cluster, exactly as `aws eks get-token` makes it: the API server honours it for 15 minutes, and its expirationTimestamp says 14 (EKSSCALE_TOKEN_EXPIRY_SECONDS, 61 to 840, says sooner). kubectl calls this through the kubeconfig entry `eksscale kubeconfig` writes. Makes no AWS call and never logs the token or keys.",
        after_help = "Examples:\n  eksscale token                                   # the cluster of eksscale.yaml\n  eksscale token --name demo --region us-west-2\n  eksscale token --name demo | jq -r .status.token"
    )]
    Token(TokenArgs),

    /// Write the Kubernetes manifests `up` would apply.
    #[command(
        long_about = "Write exactly what `up` would apply to Kubernetes (the customised KEDA install and the samples; with keda.installer: helm, the chart values instead of KEDA's objects), one file per object under --out DIR, or a YAML stream on stdout. Works without a cluster: values that are not known yet (such as the KEDA role ARN before the role exists) are clearly marked placeholders, real values once they exist.",
        after_help = "Examples:\n  eksscale render > keda.yaml\n  eksscale render --out manifests/\n  eksscale render | kubectl apply --server-side --field-manager=eksscale --dry-run=server -f -\n\nApply with --server-side, as eksscale does: a client-side `kubectl apply` stores the whole object in an annotation, which KEDA's ScaledJob CRD exceeds (metadata.annotations: Too long: must have at most 262144 bytes)."
    )]
    Render(RenderArgs),

    /// List the sample workloads, or load a sample's queue and watch it scale.
    #[command(
        long_about = "Without a subcommand, list the samples `spec.samples` can name: the built-in ones (templates/samples, embedded in eksscale) and those in `spec.templatesDir`, one line each, with whether eksscale creates a queue for it.\n\n`samples load NAME --messages N` sends N messages to the sample's SQS queue (in batches of 10). With --watch it then shows, live, the queue depth and the sample Deployment's desired and ready replicas until the queue is empty or --timeout passes, and prints both over time (as JSON with -o json). The Deployment is read through the EKS endpoint, or --kubeconfig.",
        after_help = "Examples:\n  eksscale samples\n  eksscale samples load sqs-consumer --messages 200 --watch\n  eksscale samples load sqs-consumer --messages 25 -o json | jq .sent"
    )]
    Samples(SamplesArgs),

    /// List eksscale clusters in regions, with age, expiry and cost so far.
    #[command(
        long_about = "Find every cluster eksscale made (by its tags: the EKS cluster, or its VPC when the cluster is already gone) in the given regions (default: the config's region, else AWS_REGION; --all-regions asks EC2 for the enabled regions), with its age, its expiry (`spec.ttl` writes eksscale.io/expires-at), whether it has expired, its monthly estimate and its estimated cost so far. An expiry tag that is not an RFC 3339 time is reported, and that cluster is never treated as expired.",
        after_help = "Examples:\n  eksscale list --region us-west-2 --region eu-west-1\n  eksscale list --all-regions -o json | jq '.clusters[] | select(.expired)'"
    )]
    List(RegionsArgs),

    /// Delete every expired eksscale cluster (`down` for each), for CI janitors.
    #[command(
        long_about = "Run `down` for every cluster `list` finds expired (eksscale.io/expires-at in the past, read from the EKS cluster's tags, or its VPC's when the cluster is already gone), one after the other, and report each outcome. Clusters without an expiry, not yet expired, or with an expiry tag that is not a time are left alone. --dry-run lists what would be deleted and changes nothing. Without --yes it asks on the terminal; without a terminal it refuses (exit 2). Exit 1 when any `down` fails. docs/ci.md shows a scheduled janitor job.",
        after_help = "Examples:\n  eksscale reap --region us-west-2 --dry-run\n  eksscale reap --all-regions --yes -o json"
    )]
    Reap(ReapArgs),

    /// Estimate what the config costs a month, line by line.
    #[command(
        long_about = "Print the monthly cost estimate of the config: the EKS control plane, NAT gateways, public IPv4 addresses, EC2 instances (Spot marked as an estimate), EBS root volumes, from eksscale's dated price table (src/catalog/prices.tsv, sources in docs/pricing-sources.md). A price the table lacks for the region is shown as unknown, never guessed. Usage-based charges (data processing, requests) are listed as not estimated. `plan` and `up` show the same estimate; `list` the cost so far of running clusters.",
        after_help = "Examples:\n  eksscale cost\n  eksscale cost -f staging.yaml -o json | jq .monthly_total"
    )]
    Cost,

    /// Print the IAM policies of every role eksscale creates.
    #[command(
        long_about = "Print, for every IAM role the config implies, its trust policy, the AWS managed policies attached and the inline permissions, as `up` would create them now. Review them before the first `up`, or hand them to a security team. Values only known after `up` are marked placeholders.\n\nWith --operator, print instead the policy the person or CI role that runs `up` and `down` needs for this config: explicit actions only, creates only with eksscale's ownership tags, changes and deletes only of resources carrying them, IAM writes only under /eksscale/ and this cluster's role names, iam:PassRole only to EKS, iam:AttachRolePolicy only of the managed policies eksscale uses. The end-to-end tests check that every AWS call `up` and `down` make is allowed by it.",
        after_help = "Examples:\n  eksscale policy\n  eksscale policy --role keda-operator -o json | jq '.[0].inline_policies'\n  eksscale policy --operator -o json > eksscale-operator.json\n  aws iam create-policy --policy-name eksscale-demo --policy-document file://eksscale-operator.json"
    )]
    Policy(PolicyArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Cluster name.
    #[arg(long, default_value = "demo")]
    pub name: String,
    /// AWS region (default: AWS_REGION, the profile's region, or us-west-2).
    #[arg(long)]
    pub region: Option<String>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Exit 3 when changes are pending, 0 when there are none.
    #[arg(long)]
    pub exit_code: bool,
    /// Also show the modelled time-to-ready and its critical path.
    #[arg(long)]
    pub timeline: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Do not write a kubeconfig entry for the cluster at the end.
    #[arg(long)]
    pub no_kubeconfig: bool,
    /// Take over Kubernetes fields owned by another field manager (server-side apply force).
    #[arg(long)]
    pub force_conflicts: bool,
    /// How long to wait for each Kubernetes object to become ready (e.g. 10m, 90s).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub kube_timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct RegionsArgs {
    /// A region to look in (repeatable).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Every region enabled for the account (EC2 DescribeRegions).
    #[arg(long, conflicts_with = "regions")]
    pub all_regions: bool,
}

#[derive(Debug, Args)]
pub struct ReapArgs {
    #[command(flatten)]
    pub regions: RegionsArgs,
    /// List the expired clusters, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct SamplesArgs {
    #[command(subcommand)]
    pub action: Option<SamplesAction>,
}

#[derive(Debug, Subcommand)]
pub enum SamplesAction {
    /// Send messages to a sample's queue, and optionally watch it scale.
    Load(LoadArgs),
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The sample whose queue gets the messages (one with a queue, e.g. sqs-consumer).
    pub sample: String,
    /// How many messages to send (sent in batches of 10; 0 with --watch only watches).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub messages: u32,
    /// Then show the queue depth and the Deployment's replicas until the queue is empty.
    #[arg(long)]
    pub watch: bool,
    /// How long --watch waits for the queue to drain (e.g. 10m, 90s).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Time between two --watch readings (e.g. 5s, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Kubeconfig file to update (default: first path in $KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Name for the cluster, user and context (default: eksscale-<region>-<name>).
    #[arg(long)]
    pub alias: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Directory to write one file per object into (default: a YAML stream on stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Only this role: cluster, node, vpc-cni, aws-ebs-csi-driver (with
    /// that add-on), keda-operator, sample-<name> (a sample with a queue).
    /// An unknown one is refused with this config's list.
    #[arg(long, conflicts_with = "operator")]
    pub role: Option<String>,
    /// Print instead the IAM policy the person or CI role running `up` and
    /// `down` needs for this config (a bare policy document).
    #[arg(long)]
    pub operator: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Cluster name (default: the config file's metadata.name).
    #[arg(long)]
    pub name: Option<String>,
    /// AWS region (default: with --name, AWS_REGION or the profile's region;
    /// without, the config file's).
    #[arg(long)]
    pub region: Option<String>,
}

/// `90s`, `10m`, `1h`, `1h30m` (the same format as `spec.ttl`).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::config::validate::parse_duration(s)
        .map_err(|e| format!("{e}: give a duration such as 90s, 10m or 1h30m"))
}

#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// Cluster name (instead of reading it from the config file).
    #[arg(long, requires = "region")]
    pub name: Option<String>,
    /// AWS region of the cluster (with --name).
    #[arg(long)]
    pub region: Option<String>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only list what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep the control-plane log group (/aws/eks/<name>/cluster), e.g. as an
    /// audit trail; it keeps its retention and tags.
    #[arg(long)]
    pub keep_logs: bool,
    /// How long to wait for Kubernetes to release the load balancers and
    /// volumes of deleted Services, Ingresses and claims before deleting
    /// them from AWS by their tags (e.g. 5m, 90s).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub release_timeout: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
