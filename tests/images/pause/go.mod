module oscar-iac/tests/images/pause

go 1.26.0
