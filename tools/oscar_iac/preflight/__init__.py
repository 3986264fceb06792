"""Preflight and discovery for cloud sites (OpenStack, EGI) through openstacksdk.

Library entry points: `oscar_iac.preflight.openstack.run(loaded) -> Report` and
`oscar_iac.preflight.openstack.discover(loaded) -> Inventory`;
`oscar_iac.preflight.gate.gate(loaded, ignore, warn)` is what `up` runs first.
"""
