//go:build tools

// Package tools pins the Temporal CLI so that `go mod tidy` keeps its requirements.
package tools

import _ "github.com/temporalio/cli/cmd/temporal"
