"""`up` as phases, and `down` as their undoing, recorded in the site's state file.

    preflight -> infrastructure -> platform -> models -> events -> smoke -> summary

Which phases a site has depends on its target:
  im (a cloud)      all of them (preflight: cloud checks before anything is created)
  im (embedded)     infrastructure and summary; IM's Dummy cloud boots nothing, so there
                    is no OSCAR to reach: said once, with the next real step
  hosts             infrastructure (ansible-playbook) onwards
  oscar (existing)  platform onwards
Each phase is recorded (running, done, failed) with a digest of the site. An `up`
that did not finish is resumed by the next one: phases done for the same site digest
are not run again; a site that changed, or an `up` that finished, runs every phase
again (each is idempotent). `--only` / `--skip` choose phases by name.
`down` undoes events, then models, then the infrastructure, and goes on past a
system that is already gone, saying so.
"""

from oscar_iac.phases.run import (
    PHASES,
    DownStep,
    PhaseOutcome,
    Reporter,
    UpReport,
    applicable,
    down,
    up,
)

__all__ = [
    "PHASES",
    "DownStep",
    "PhaseOutcome",
    "Reporter",
    "UpReport",
    "applicable",
    "down",
    "up",
]
