"""Small corrections to moto's EC2 models where it differs from EC2 in ways eksscale depends on.

Each fix names the AWS behaviour it copies. They are applied once, by `apply()`, before the server starts.
"""

from __future__ import annotations

from typing import Any

from moto.ec2.models.nat_gateways import NatGateway, NatGatewayBackend


def _nat_gateway_init(original: Any) -> Any:
    def init(self: NatGateway, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # A NAT gateway's network interface is created and owned by the NAT gateway service: it is
        # requester-managed, of type "nat_gateway", in use, and described as "Interface for NAT Gateway nat-…".
        # moto makes a plain, available "interface" ENI instead, which looks like someone's own interface.
        # Source: EC2 User Guide, "Requester-managed network interfaces" (NAT gateway row), and
        # EC2 API reference, NetworkInterface.InterfaceType (nat_gateway).
        eni = self._eni
        eni.requester_managed = True
        eni.requester_id = "amazon-nat-gateway"  # shape only: AWS reports the service's own account/ID
        eni.interface_type = "nat_gateway"
        eni.status = "in-use"
        eni.description = f"Interface for NAT Gateway {self.id}"

    return init


def _delete_nat_gateway(original: Any) -> Any:
    def delete(self: NatGatewayBackend, nat_gateway_id: str) -> NatGateway:
        nat = original(self, nat_gateway_id)
        # Deleting a NAT gateway disassociates its Elastic IP address and deletes its network interface
        # (VPC User Guide, "Delete a NAT gateway": "...disassociates its Elastic IP address, but does not
        # release the address..."). moto leaves both in place forever.
        eni = nat._eni
        for address in list(self.addresses):  # type: ignore[attr-defined]
            if address.eni is eni:
                address.eni = None
                address.association_id = None
        self.enis.pop(eni.id, None)  # type: ignore[attr-defined]
        return nat

    return delete


_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    NatGateway.__init__ = _nat_gateway_init(NatGateway.__init__)  # type: ignore[method-assign]
    NatGatewayBackend.delete_nat_gateway = _delete_nat_gateway(NatGatewayBackend.delete_nat_gateway)  # type: ignore[method-assign]
