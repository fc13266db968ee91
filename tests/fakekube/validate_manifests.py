"""Validate Kubernetes manifests offline, with the same schema code as the fake API server.

    python tests/fakekube/validate_manifests.py --kubernetes-version 1.35 \
        [--crds FILE]... PATH...

PATH is a YAML file, a directory (every *.yaml / *.yml below it) or `-` for standard input. Built-in kinds
are checked against kubernetes-validate's strict schemas, kinds defined by the --crds files against their
openAPIV3Schema; any other kind is an error. Exit status: 0 all valid, 1 something invalid, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterator

import semantics
from manifests import ManifestError, load_documents
from schemas import SchemaError, Schemas

CrdIndex = dict[tuple[str, str], dict[str, Any]]  # (apiVersion, kind) -> CRD


def _sources(paths: list[str]) -> Iterator[tuple[str, str | OSError]]:
    """(label, text or the error reading it) for stdin, files and the YAML files below directories."""
    for path in paths:
        if path == "-":
            yield "<stdin>", sys.stdin.read()
            continue
        target = Path(path)
        files = (sorted(f for f in target.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
                 if target.is_dir() else [target])
        for file in files:
            try:
                yield str(file), file.read_text()
            except OSError as exc:
                yield str(file), exc


def crd_index(files: list[str]) -> CrdIndex:
    index: CrdIndex = {}
    for file in files:
        for doc in load_documents(Path(file).read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                spec = doc.get("spec", {})
                for version in spec.get("versions", []):
                    index[(f"{spec.get('group')}/{version.get('name')}", spec.get("names", {}).get("kind"))] = doc
    return index


def problems_of(obj: Any, schemas: Schemas, crds: CrdIndex) -> list[str]:
    if not isinstance(obj, dict):
        return ["a document must be a Kubernetes object (a mapping)"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        return ["apiVersion and kind must be set"]
    crd = crds.get((api_version, kind))
    if crd is not None:
        errors = schemas.validate_custom(obj, crd)
    elif schemas.has_builtin(api_version, kind):
        errors = schemas.validate_builtin(obj)
    else:
        return [f"unknown kind {kind} in {api_version}: not built into Kubernetes {schemas.kubernetes_version} "
                "and not defined by a --crds file"]
    return [str(e) for e in errors + semantics.validate_object(obj)]


def _describe(obj: Any) -> tuple[str, str]:
    """(`Kind/namespace/name` or `Kind/name`, `Kind/name`) for the report lines."""
    if not isinstance(obj, dict):
        return "?", "?"
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    kind, name, namespace = obj.get("kind", "?"), metadata.get("name", "?"), metadata.get("namespace")
    return (f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"), f"{kind}/{name}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubernetes-version", default="1.35")
    parser.add_argument("--crds", action="append", default=[], metavar="FILE",
                        help="a YAML file whose CustomResourceDefinitions define more kinds (repeatable)")
    parser.add_argument("paths", nargs="+", metavar="PATH")
    args = parser.parse_args(argv)
    try:
        schemas = Schemas(args.kubernetes_version)
        crds = crd_index(args.crds)
    except (SchemaError, ManifestError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    valid = invalid = 0
    for label, text in _sources(args.paths):
        try:
            if isinstance(text, OSError):
                raise ManifestError(f"cannot read: {text.strerror}")
            documents = load_documents(text)
        except ManifestError as exc:
            print(f"error {label}: {exc}")
            invalid += 1
            continue
        for obj in documents:
            full_name, short_name = _describe(obj)
            problems = problems_of(obj, schemas, crds)
            if problems:
                print(f"error {label}: {short_name}: {'; '.join(problems)}")
                invalid += 1
            else:
                print(f"ok {full_name}")
                valid += 1
    print(f"summary: {valid + invalid} objects, {valid} valid, {invalid} invalid")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
