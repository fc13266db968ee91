"""A model of kube-scheduler's PodTopologySpread plugin, to check where a Deployment's replicas land.

Replicas are placed one at a time on a small cluster (by default 3 zones of 2 nodes), as a scale-up from
zero does. For each replica the model does what the scheduler does with this one plugin
(pkg/scheduler/framework/plugins/podtopologyspread, Kubernetes 1.33):

- Filter, for `whenUnsatisfiable: DoNotSchedule` constraints: domains come from the nodes that pass the
  node inclusion policies (nodeAffinityPolicy Honor: the pod's nodeSelector and required node affinity;
  taints are not modelled) and carry every hard topology key; the global minimum is taken over those
  domains (0 when `minDomains` is set and fewer domains exist); a node is filtered out when
  `count(its domain) + selfMatch - globalMin > maxSkew`, or when it lacks the key.
- Score, for `ScheduleAnyway` constraints: `round(sum(count * log(domains + 2) + maxSkew - 1))` per node,
  hostname counts taken per node, nodes without every soft key ignored, then normalised to
  `100 * (max + min - score) / max` (integer division): lower counts score higher.
- The highest score wins. The scheduler breaks ties at random; the model takes the first node in name order
  for the placement it reports, and `explore_ties` follows every tied choice to check them all.

Selectors: `labelSelector` plus `matchLabelKeys` (the pod's own values of those keys, as the scheduler and,
from 1.34, the API server merge them). A nil selector matches nothing. Other scheduler plugins (resources,
image locality, inter-pod affinity) and taints are not modelled: the nodes are taken to have room.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import labelselectors  # tests/fakekube, on sys.path (see validate_samples.py)

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
MAX_NODE_SCORE = 100
POD_TEMPLATE_HASH = "pod-template-hash"


@dataclass(frozen=True)
class Node:
    name: str
    labels: Mapping[str, str]


def cluster(zones: int = 3, nodes_per_zone: int = 2) -> list[Node]:
    """Nodes labelled as EKS managed nodes are: zone, hostname, os and arch."""
    nodes = []
    for z in range(zones):
        zone = f"us-west-2{chr(ord('a') + z)}"
        for n in range(nodes_per_zone):
            name = f"ip-10-0-{z}-{n + 1}.us-west-2.compute.internal"
            nodes.append(Node(name, {ZONE: zone, HOSTNAME: name, "kubernetes.io/os": "linux",
                                     "kubernetes.io/arch": "amd64"}))
    return nodes


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    topology_key: str
    hard: bool  # DoNotSchedule
    selector: labelselectors.Selector | None  # None matches nothing
    min_domains: int | None = None
    honor_node_affinity: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        return self.selector is not None and labelselectors.matches(self.selector, labels)


class SpecError(ValueError):
    """The pod spec cannot be modelled (bad selector, unknown field value)."""


def constraints_of(pod_spec: Mapping[str, Any], pod_labels: Mapping[str, str]) -> list[Constraint]:
    out = []
    for index, raw in enumerate(pod_spec.get("topologySpreadConstraints") or []):
        where = f"topologySpreadConstraints[{index}]"
        when = raw.get("whenUnsatisfiable")
        if when not in ("DoNotSchedule", "ScheduleAnyway"):
            raise SpecError(f"{where}.whenUnsatisfiable: {when!r} is not DoNotSchedule or ScheduleAnyway")
        selector: labelselectors.Selector | None = None
        if raw.get("labelSelector") is not None:
            try:
                selector = labelselectors.from_label_selector(raw["labelSelector"])
            except labelselectors.SelectorError as exc:
                raise SpecError(f"{where}.labelSelector: {exc}") from exc
            for key in raw.get("matchLabelKeys") or []:
                if key in pod_labels:
                    selector += (labelselectors.Requirement(key, "in", (pod_labels[key],)),)
        out.append(Constraint(max_skew=int(raw.get("maxSkew", 1)), topology_key=str(raw.get("topologyKey")),
                              hard=when == "DoNotSchedule", selector=selector,
                              min_domains=raw.get("minDomains"),
                              honor_node_affinity=raw.get("nodeAffinityPolicy", "Honor") == "Honor"))
    return out


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
    value = labels.get(key)
    if operator == "In":
        return value in values
    if operator == "NotIn":
        return value not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt"):
        try:
            number, bound = int(value), int(values[0])  # type: ignore[arg-type]
        except (TypeError, ValueError, IndexError):
            return False
        return number > bound if operator == "Gt" else number < bound
    raise SpecError(f"node selector operator {operator!r} is not supported")


def node_affinity_matches(pod_spec: Mapping[str, Any], node: Node) -> bool:
    """The pod's nodeSelector and requiredDuringSchedulingIgnoredDuringExecution node affinity."""
    for key, value in (pod_spec.get("nodeSelector") or {}).items():
        if node.labels.get(key) != value:
            return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return True
    return any(all(_expression_matches(e, node.labels) for e in term.get("matchExpressions") or [])
               for term in required.get("nodeSelectorTerms") or [])


@dataclass
class Placement:
    """Where replicas 1..n went (node names, in order), or why one could not be placed."""
    nodes: list[str] = field(default_factory=list)
    unschedulable_at: int | None = None


class Model:
    """One Deployment's pods on one cluster."""

    def __init__(self, pod_spec: Mapping[str, Any], pod_labels: Mapping[str, str], nodes: list[Node]) -> None:
        self.nodes = nodes
        self.pod_labels = dict(pod_labels)
        self.constraints = constraints_of(pod_spec, self.pod_labels)
        self.affinity_ok = {n.name: node_affinity_matches(pod_spec, n) for n in nodes}

    def _eligible(self, node: Node, constraint: Constraint) -> bool:
        return self.affinity_ok[node.name] or not constraint.honor_node_affinity

    def _count(self, placed: Mapping[str, int], constraint: Constraint, nodes: Iterable[Node]) -> int:
        """Pods of this Deployment on those nodes that the constraint's selector counts."""
        return sum(placed.get(n.name, 0) for n in nodes) if constraint.matches(self.pod_labels) else 0

    def feasible(self, placed: Mapping[str, int]) -> list[Node]:
        """The nodes that pass NodeAffinity and the PodTopologySpread filter."""
        hard = [c for c in self.constraints if c.hard]
        domain_counts: list[dict[str, int]] = []
        minimum: list[int] = []
        for c in hard:
            counts: dict[str, int] = {}
            for node in self.nodes:
                if not self._eligible(node, c) or any(h.topology_key not in node.labels for h in hard):
                    continue
                value = node.labels[c.topology_key]
                counts[value] = counts.get(value, 0) + self._count(placed, c, [node])
            domain_counts.append(counts)
            low = min(counts.values()) if counts else 0
            if c.min_domains is not None and len(counts) < c.min_domains:
                low = 0
            minimum.append(low)
        out = []
        for node in self.nodes:
            if not self.affinity_ok[node.name]:
                continue
            ok = True
            for c, counts, low in zip(hard, domain_counts, minimum):
                if c.topology_key not in node.labels:
                    ok = False
                    break
                self_match = 1 if c.matches(self.pod_labels) else 0
                if counts.get(node.labels[c.topology_key], 0) + self_match - low > c.max_skew:
                    ok = False
                    break
            if ok:
                out.append(node)
        return out

    def scores(self, placed: Mapping[str, int], candidates: list[Node]) -> dict[str, int]:
        """Normalised PodTopologySpread scores (0..100) of the candidate nodes."""
        soft = [c for c in self.constraints if not c.hard]
        if not soft:
            return {n.name: 0 for n in candidates}
        ignored = {n.name for n in candidates if any(c.topology_key not in n.labels for c in soft)}
        scored = [n for n in candidates if n.name not in ignored]
        weights = []
        for c in soft:
            size = (len(scored) if c.topology_key == HOSTNAME
                    else len({n.labels[c.topology_key] for n in scored}))
            weights.append(math.log(size + 2))
        raw: dict[str, int] = {}
        for node in scored:
            total = 0.0
            for c, weight in zip(soft, weights):
                if c.topology_key == HOSTNAME:
                    count = self._count(placed, c, [node])
                else:
                    value = node.labels[c.topology_key]
                    domain = [n for n in self.nodes if n.labels.get(c.topology_key) == value
                              and all(s.topology_key in n.labels for s in soft) and self._eligible(n, c)]
                    count = self._count(placed, c, domain)
                total += count * weight + (c.max_skew - 1)
            raw[node.name] = _round_half_away(total)
        out = {name: 0 for name in ignored}
        if raw:
            low, high = min(raw.values()), max(raw.values())
            for name, score in raw.items():
                out[name] = MAX_NODE_SCORE if high == 0 else MAX_NODE_SCORE * (high + low - score) // high
        return out

    def best(self, placed: Mapping[str, int]) -> list[Node]:
        """The nodes the next replica may land on: every node with the top score (a tie), in name order."""
        candidates = self.feasible(placed)
        if not candidates:
            return []
        scores = self.scores(placed, candidates)
        top = max(scores.values())
        return sorted((n for n in candidates if scores[n.name] == top), key=lambda n: n.name)

    def place(self, replicas: int) -> Placement:
        """Replicas 1..n placed one at a time, ties to the first node in name order."""
        placed: dict[str, int] = {}
        result = Placement()
        for index in range(1, replicas + 1):
            choices = self.best(placed)
            if not choices:
                result.unschedulable_at = index
                break
            placed[choices[0].name] = placed.get(choices[0].name, 0) + 1
            result.nodes.append(choices[0].name)
        return result


def _round_half_away(value: float) -> int:
    """Go's math.Round: halves away from zero (Python's round() rounds halves to even)."""
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


def skews(model: Model, nodes_of_pods: Iterable[str]) -> tuple[int, int]:
    """(zone skew, node skew): max minus min pods over every zone and every node of the cluster."""
    per_node = {n.name: 0 for n in model.nodes}
    for name in nodes_of_pods:
        per_node[name] += 1
    per_zone: dict[str, int] = {}
    for node in model.nodes:
        zone = node.labels[ZONE]
        per_zone[zone] = per_zone.get(zone, 0) + per_node[node.name]
    return max(per_zone.values()) - min(per_zone.values()), max(per_node.values()) - min(per_node.values())


@dataclass
class Finding:
    replicas: int
    message: str
    path: list[str]


def check(model: Model, replicas: int = 12, max_zone_skew: int = 1, max_node_skew: int = 1,
          explore_ties: bool = True) -> list[Finding]:
    """Place 1..replicas one by one and report the first state that breaks a skew bound, or a replica
    that cannot be placed. With explore_ties, every tie-break the scheduler might make is followed
    (states are deduplicated, so this stays small); otherwise only the name-order one."""
    frontier: dict[tuple[int, ...], list[str]] = {tuple(0 for _ in model.nodes): []}
    index_of = {n.name: i for i, n in enumerate(model.nodes)}
    for count in range(1, replicas + 1):
        following: dict[tuple[int, ...], list[str]] = {}
        for state, path in frontier.items():
            placed = {n.name: state[i] for i, n in enumerate(model.nodes) if state[i]}
            choices = model.best(placed)
            if not choices:
                return [Finding(count, f"replica {count} cannot be scheduled (every node is filtered out)", path)]
            for node in choices if explore_ties else choices[:1]:
                after = list(state)
                after[index_of[node.name]] += 1
                new_path = path + [node.name]
                zone_skew, node_skew = skews(model, new_path)
                if zone_skew > max_zone_skew or node_skew > max_node_skew:
                    return [Finding(count, f"at {count} replicas the zone skew is {zone_skew} (at most "
                                           f"{max_zone_skew}) and the node skew {node_skew} (at most "
                                           f"{max_node_skew})", new_path)]
                following.setdefault(tuple(after), new_path)
        frontier = following
    return []
