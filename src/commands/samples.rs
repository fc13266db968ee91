//! `eksscale samples` (what samples exist) and `eksscale samples load`
//! (messages into a sample's queue, then the queue depth and the Deployment's
//! replicas over time).

use std::fmt;
use std::time::Instant;

use serde::Serialize;

use super::output::Report;
use crate::cli::{Global, LoadArgs};
use crate::samples::{Origin, Sample, load};

#[derive(Serialize)]
pub struct Listed {
    name: String,
    description: String,
    /// eksscale creates a queue (and DLQ and consumer role) for it.
    queue: bool,
    /// `built-in`, or the directory it comes from.
    origin: String,
    /// A user template that replaces the built-in of the same name.
    overrides_built_in: bool,
    /// Named in the config's `spec.samples`.
    selected: bool,
}

#[derive(Serialize)]
pub struct ListReport {
    command: &'static str,
    /// Whether the command did what it was asked (like every summary).
    ok: bool,
    samples: Vec<Listed>,
}

impl fmt::Display for ListReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.samples.iter().map(|s| s.name.len()).max().unwrap_or(4);
        for s in &self.samples {
            writeln!(
                f,
                "{} {:width$}  {:5}  {}{}",
                if s.selected { "*" } else { " " },
                s.name,
                if s.queue { "queue" } else { "" },
                s.description,
                match (s.origin.as_str(), s.overrides_built_in) {
                    ("built-in", _) => String::new(),
                    (dir, true) => format!(" (from {dir}, replaces the built-in)"),
                    (dir, false) => format!(" (from {dir})"),
                }
            )?;
        }
        writeln!(
            f,
            "\n* = in spec.samples. Add your own with spec.templatesDir (docs/samples.md)."
        )
    }
}

impl Report for ListReport {}

/// Lists the samples: built-in ones, plus the config's `templatesDir` when
/// there is a config file.
pub async fn list(g: &Global) -> anyhow::Result<ListReport> {
    let (available, selected) = if g.file.exists() {
        let loaded = super::load_config(g).await?;
        let dir = crate::samples::templates_dir(&loaded.spec, &super::config_dir(g));
        (
            crate::samples::available(dir.as_deref())?,
            loaded.spec.samples.clone(),
        )
    } else {
        (crate::samples::available(None)?, Vec::new())
    };
    Ok(ListReport {
        command: "samples",
        ok: true,
        samples: available
            .into_values()
            .map(|s: Sample| Listed {
                selected: selected.contains(&s.name),
                origin: match &s.origin {
                    Origin::BuiltIn => "built-in".into(),
                    Origin::Dir { path, .. } => path.display().to_string(),
                },
                overrides_built_in: matches!(
                    s.origin,
                    Origin::Dir {
                        overrides: true,
                        ..
                    }
                ),
                name: s.name,
                description: s.description,
                queue: s.queue,
            })
            .collect(),
    })
}

/// One `--watch` reading.
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    /// Seconds since the messages were sent.
    t: u64,
    /// ApproximateNumberOfMessages.
    depth: u64,
    /// ApproximateNumberOfMessagesNotVisible (received, not deleted yet).
    in_flight: u64,
    /// The Deployment's spec.replicas (what KEDA asks for); None when the
    /// cluster could not be read.
    desired: Option<u64>,
    ready: Option<u64>,
}

#[derive(Serialize)]
pub struct LoadReport {
    command: &'static str,
    /// Whether the command did what it was asked (like every summary).
    ok: bool,
    sample: String,
    queue_url: String,
    sent: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    watch: Option<Watch>,
}

#[derive(Serialize)]
pub struct Watch {
    drained: bool,
    elapsed_s: u64,
    readings: Vec<Reading>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// `▁▂▃▄▅▆▇█` bars for a series scaled to its maximum.
fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|v| BARS[((v * 7) / max) as usize])
        .collect()
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Sent {} messages to {} (sample {}).",
            self.sent, self.queue_url, self.sample
        )?;
        let Some(w) = &self.watch else {
            return writeln!(
                f,
                "Watch it scale: eksscale samples load {} --messages 0 --watch",
                self.sample
            );
            // (--messages 0 sends nothing and only watches.)
        };
        let depth: Vec<u64> = w.readings.iter().map(|r| r.depth + r.in_flight).collect();
        let desired: Vec<u64> = w.readings.iter().map(|r| r.desired.unwrap_or(0)).collect();
        let ready: Vec<u64> = w.readings.iter().map(|r| r.ready.unwrap_or(0)).collect();
        writeln!(
            f,
            "\nover {}s ({} readings):",
            w.elapsed_s,
            w.readings.len()
        )?;
        writeln!(
            f,
            "  messages  {}  max {}",
            sparkline(&depth),
            depth.iter().max().unwrap_or(&0)
        )?;
        writeln!(
            f,
            "  replicas  {}  max {}",
            sparkline(&desired),
            desired.iter().max().unwrap_or(&0)
        )?;
        writeln!(
            f,
            "  ready     {}  max {}",
            sparkline(&ready),
            ready.iter().max().unwrap_or(&0)
        )?;
        if let Some(n) = &w.note {
            writeln!(f, "  note: {n}")?;
        }
        writeln!(
            f,
            "{}",
            if w.drained {
                "The queue is empty."
            } else {
                "The queue was not empty when --timeout passed."
            }
        )
    }
}

impl Report for LoadReport {
    fn exit_code(&self) -> u8 {
        match &self.watch {
            Some(w) if !w.drained => 1,
            _ => 0,
        }
    }
}

pub async fn load(g: &Global, a: LoadArgs) -> anyhow::Result<LoadReport> {
    let loaded = super::load_config(g).await?;
    let spec = loaded.spec;
    let samples = crate::samples::selected(&spec, &super::config_dir(g))?;
    let Some(sample) = samples.iter().find(|s| s.name == a.sample) else {
        return Err(super::usage(format!(
            "sample {:?} is not in spec.samples ({}); add it and run `eksscale up` first",
            a.sample,
            spec.samples.join(", ")
        )));
    };
    if !sample.queue {
        let with_queue: Vec<&str> = samples
            .iter()
            .filter(|s| s.queue)
            .map(|s| s.name.as_str())
            .collect();
        return Err(super::usage(format!(
            "sample {} has no queue to load; samples with a queue: {}",
            sample.name,
            if with_queue.is_empty() {
                "none selected".to_string()
            } else {
                with_queue.join(", ")
            }
        )));
    }
    let (aws, _) = crate::aws::connect_checked(&spec.region).await?;
    let name = crate::samples::queue_name(&spec.name, &sample.name);
    let url = load::queue_url(&aws.sqs, &name).await?;
    let sent = load::send(&aws.sqs, &url, &sample.name, a.messages).await?;
    eprintln!("sent {sent} messages to {name}");
    let watch = if a.watch {
        Some(watch(g, &spec, &aws, &url, &sample.name, &a).await?)
    } else {
        None
    };
    Ok(LoadReport {
        command: "samples load",
        ok: watch.as_ref().is_none_or(|w| w.drained),
        sample: sample.name.clone(),
        queue_url: url,
        sent,
        watch,
    })
}

async fn watch(
    g: &Global,
    spec: &crate::spec::Spec,
    aws: &crate::aws::Aws,
    url: &str,
    sample: &str,
    a: &LoadArgs,
) -> anyhow::Result<Watch> {
    let access = match &g.kubeconfig {
        Some(path) => crate::kube::steps::KubeAccess::File {
            path: path.clone(),
            context: g.context.clone(),
        },
        None => crate::kube::steps::KubeAccess::Eks,
    };
    let world: std::collections::BTreeMap<String, crate::kinds::Observed> =
        match crate::kinds::cluster::read(aws, &spec.name).await? {
            Some(c) => [(crate::kinds::cluster::ID.to_string(), c)].into(),
            None => Default::default(),
        };
    let (client, mut note) =
        match crate::kube::steps::reach(&spec.name, &spec.region, &access, &world).await {
            Ok((_, c)) => (Some(c), None),
            Err(why) => (None, Some(format!("replicas not shown: {why}"))),
        };
    let start = Instant::now();
    let mut readings = Vec::new();
    let drained = loop {
        let (depth, in_flight) = load::queue_depth(&aws.sqs, url).await?;
        let (desired, ready) = match &client {
            Some(c) => match load::replicas(c, sample).await {
                Ok((d, r)) => (Some(d), Some(r)),
                Err(e) => {
                    note.get_or_insert_with(|| format!("reading Deployment {sample}: {e}"));
                    (None, None)
                }
            },
            None => (None, None),
        };
        let r = Reading {
            t: start.elapsed().as_secs(),
            depth,
            in_flight,
            desired,
            ready,
        };
        eprintln!(
            "{:>4}s  messages {depth:>6} (+{in_flight} in flight)  replicas {} desired, {} ready",
            r.t,
            desired.map(|d| d.to_string()).unwrap_or_else(|| "?".into()),
            ready.map(|d| d.to_string()).unwrap_or_else(|| "?".into()),
        );
        readings.push(r);
        if depth == 0 && in_flight == 0 {
            break true;
        }
        if start.elapsed() + a.interval > a.timeout {
            break false;
        }
        tokio::time::sleep(a.interval).await;
    };
    Ok(Watch {
        drained,
        elapsed_s: start.elapsed().as_secs(),
        readings,
        note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_maximum() {
        assert_eq!(sparkline(&[0, 7, 14]), "▁▄█");
        assert_eq!(sparkline(&[0, 0]), "▁▁");
    }
}
