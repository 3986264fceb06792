from oscar_iac.cli.main import run

run()
