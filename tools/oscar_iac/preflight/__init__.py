"""The preflight of cloud sites, one check in two stages, and discovery.

gate.py       the preflight: `gate(loaded, ignore, warn)` is what `up` runs first;
              `require_offline` is stage 1 alone, for every IM command (once each)
offline.py    stage 1: the token's expiry, EGI VO membership and project, offline
openstack.py  stage 2 through openstacksdk: `run(loaded) -> Report` (also
              `oscar-iac preflight`), and `discover(loaded) -> Inventory`
connect.py, flavours.py, needs.py, report.py   its parts
"""
