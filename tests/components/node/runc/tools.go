//go:build tools

// Package tools pins the runc the test node runs (tests/components/build-node.sh).
package tools

import _ "github.com/opencontainers/runc"
