// Command registry is the OCI registry the test node pulls job images from
// (tests/components/build-node.sh, tests/components/registry_fixture.py): distribution's own
// root command (registry.RootCmd, the `serve` and `garbage-collect` subcommands) with only
// the storage the fixture configures, the filesystem driver. Upstream's cmd/registry/main.go
// (distribution v3.1.2) also links the azure, gcs and s3-aws drivers, the cloudfront
// middleware and the auth providers, which a local test registry never uses and which
// more than double its cold build on 2 cores.
package main

import (
	"os"

	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	if err := registry.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
