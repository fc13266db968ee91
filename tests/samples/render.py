"""Render sample templates the way eksscale does, for tests (the Rust side is src/samples/).

The contract (docs/samples.md): `templates/samples/<name>/` holds `sample.yaml` and `*.yaml.j2` files,
rendered in file-name order with minijinja (strict undefined, no auto-escaping; this is the Python binding of
the same engine); eksscale then adds its ownership labels to every object's metadata.

    python tests/samples/render.py [--templates DIR] [--identity irsa|pod-identity] OUT_DIR

writes OUT_DIR/<sample>.yaml for every sample, with the fixed test context below.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import minijinja
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = ROOT / "templates" / "samples"
NAMESPACE = "eksscale-samples"
CLUSTER = "demo"
REGION = "us-west-2"
ACCOUNT = "123456789012"


def context(sample: str, queue: bool, identity: str = "irsa", kubernetes_version: str = "1.33") -> dict[str, Any]:
    """What eksscale hands a sample's templates, for cluster `demo` in us-west-2."""
    queue_name = f"eksscale-{CLUSTER}-{sample}"
    return {
        "sample": sample,
        "namespace": NAMESPACE,
        "cluster": CLUSTER,
        "region": REGION,
        "kubernetes_version": kubernetes_version,
        "zones": [f"{REGION}a", f"{REGION}b", f"{REGION}c"],
        "identity": identity,
        "queue": {
            "url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue_name}",
            "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}",
            "name": queue_name,
            "dlq_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}-dlq",
        } if queue else None,
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/eksscale-{CLUSTER}-sample-{sample}" if queue else None,
    }


def environment() -> minijinja.Environment:
    # As src/samples/ sets it up: strict undefined, no auto-escaping (the Python binding would otherwise
    # JSON-escape `*.yaml.j2`, as Rust minijinja does by default), no Python-only methods.
    return minijinja.Environment(undefined_behavior="strict", auto_escape_callback=lambda name: None,
                                 pycompat=False)


def sample_names(templates: Path = BUILTIN) -> list[str]:
    return sorted(d.name for d in templates.iterdir() if (d / "sample.yaml").is_file())


def metadata(sample_dir: Path) -> dict[str, Any]:
    data = yaml.safe_load((sample_dir / "sample.yaml").read_text())
    if not isinstance(data, dict) or not isinstance(data.get("description"), str) \
            or not isinstance(data.get("queue"), bool) or set(data) - {"description", "queue"}:
        raise ValueError(f"{sample_dir / 'sample.yaml'}: needs `description` (a string) and `queue` "
                         "(true or false), nothing else")
    return data


def render_sample(sample_dir: Path, identity: str = "irsa", ctx: dict[str, Any] | None = None) -> str:
    """The sample's objects as one multi-document YAML stream, ownership labels added."""
    meta = metadata(sample_dir)
    ctx = ctx or context(sample_dir.name, meta["queue"], identity)
    env = environment()
    objects: list[Any] = []
    for template in sorted(sample_dir.glob("*.yaml.j2")):
        text = env.render_str(template.read_text(), name=template.name, **ctx)
        objects += [doc for doc in yaml.safe_load_all(text) if doc is not None]
    for obj in objects:
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        labels.update({"app.kubernetes.io/managed-by": "eksscale", "eksscale.io/cluster": ctx["cluster"],
                       "eksscale.io/sample": ctx["sample"]})
    return yaml.safe_dump_all(objects, sort_keys=False)


def render_all(out: Path, templates: Path = BUILTIN, identity: str = "irsa") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sample_names(templates):
        path = out / f"{name}.yaml"
        path.write_text(render_sample(templates / name, identity))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--templates", type=Path, default=BUILTIN)
    parser.add_argument("--identity", choices=["irsa", "pod-identity"], default="irsa")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    for path in render_all(args.out, args.templates, args.identity):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
