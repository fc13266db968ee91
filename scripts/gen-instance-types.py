#!/usr/bin/env python3
"""Regenerates src/catalog/instance_types.tsv, eksscale's offline catalog of EC2
instance types (architecture, accelerator, vCPUs, memory), from the
DescribeInstanceTypes data that moto ships (moto/ec2/resources/instance_types.json.gz,
itself generated from AWS). eksscale uses it to check instance types and choose
node group AMI types before any AWS call.

    .venv/bin/python scripts/gen-instance-types.py > src/catalog/instance_types.tsv
"""

import gzip
import json
from importlib import metadata
from pathlib import Path

import moto

data = json.load(gzip.open(Path(moto.__file__).parent / "ec2/resources/instance_types.json.gz"))
print(f"# EC2 instance types from moto {metadata.version('moto')} (AWS DescribeInstanceTypes data).")
print("# Regenerate with scripts/gen-instance-types.py. Columns: name, architecture,")
print("# accelerator (none | nvidia | neuron), vCPUs, memory in MiB. Mac instances are left out")
print("# (EKS does not run them).")
for name in sorted(data):
    t = data[name]
    archs = t.get("ProcessorInfo", {}).get("SupportedArchitectures", [])
    if any(a.endswith("_mac") for a in archs):
        continue
    arch = "arm64" if "arm64" in archs else "x86_64"
    if any(g.get("Manufacturer") == "NVIDIA" for g in t.get("GpuInfo", {}).get("Gpus", [])):
        acc = "nvidia"
    elif "NeuronInfo" in t:
        acc = "neuron"
    else:
        acc = "none"
    vcpus = t.get("VCpuInfo", {}).get("DefaultVCpus", 0)
    mem = t.get("MemoryInfo", {}).get("SizeInMiB", 0)
    print(f"{name}\t{arch}\t{acc}\t{vcpus}\t{mem}")
