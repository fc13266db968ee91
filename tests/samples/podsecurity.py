"""The Pod Security Standards `restricted` profile (which includes `baseline`), as Kubernetes 1.33 enforces
it on the eksscale-samples namespace (k8s.io/pod-security-admission/policy, version "latest").

A pod template that breaks it is accepted as part of its Deployment, but the ReplicaSet controller's pods are
then refused, so the Deployment silently never gets a pod: checked here, before anything is applied.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

Obj = Mapping[str, Any]

_RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                       "projected", "secret"}
_SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                 "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                 "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                 "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _containers(spec: Obj) -> Iterator[tuple[str, Obj]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name')}]", container


def restricted_problems(spec: Obj) -> list[str]:
    """What in a pod spec the restricted profile forbids (empty when it passes)."""
    problems = []
    pod_sc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field}: host namespaces are forbidden")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if kinds - _RESTRICTED_VOLUMES:
            problems.append(f"volume {volume.get('name')}: type {', '.join(sorted(kinds))} is not allowed")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')} is not in the safe set")
    problems += _selinux("securityContext", pod_sc)
    if pod_sc.get("runAsUser") == 0:
        problems.append("securityContext.runAsUser: 0 (root) is forbidden")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in ("RuntimeDefault", "Localhost"):
        problems.append(f"securityContext.seccompProfile.type {pod_seccomp} must be RuntimeDefault or Localhost")
    for where, container in _containers(spec):
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{where}: privileged is forbidden")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: securityContext.allowPrivilegeEscalation must be false")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}: securityContext.capabilities.drop must include ALL")
        extra = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            problems.append(f"{where}: capabilities.add may hold only NET_BIND_SERVICE, not {sorted(extra)}")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{where}: runAsNonRoot must be true (pod or container securityContext)")
        if sc.get("runAsUser") == 0:
            problems.append(f"{where}: runAsUser 0 (root) is forbidden")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: seccompProfile.type must be RuntimeDefault or Localhost "
                            "(pod or container securityContext)")
        if sc.get("procMount") not in (None, "Default"):
            problems.append(f"{where}: procMount must be Default")
        problems += _selinux(f"{where}.securityContext", sc)
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{where}: hostPort {port['hostPort']} is forbidden")
        apparmor = (sc.get("appArmorProfile") or {}).get("type")
        if apparmor not in (None, "RuntimeDefault", "Localhost"):
            problems.append(f"{where}: appArmorProfile.type {apparmor} is forbidden")
    return problems


def _selinux(where: str, sc: Obj) -> list[str]:
    options = sc.get("seLinuxOptions") or {}
    problems = []
    if options.get("type", "") not in _SELINUX_TYPES:
        problems.append(f"{where}.seLinuxOptions.type {options['type']} is forbidden")
    if options.get("user") or options.get("role"):
        problems.append(f"{where}.seLinuxOptions: user and role must be unset")
    return problems
