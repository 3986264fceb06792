"""The `oscar-iac` command line: a thin layer over the library."""
