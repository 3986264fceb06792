//go:build tools

// Package tools pins the OCI registry the test node pulls job images from
// (tests/components/build-node.sh, tests/components/registry_fixture.py).
package tools

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
)
