// Command signet is the Signet token issuer: signet serve runs it, and
// migrate, keys and users administer its database.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful shutdown (serve drains, then
	// finishes its requests); a second one stops the process at once.
	context.AfterFunc(ctx, stop)
	err := runWithInput(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "signet:", err)
		}
		os.Exit(exitCode(err))
	}
}
