package main

import (
	"testing"

	"github.com/signet-auth/signet/cmd/internal/resource/videoapi"
	"github.com/signet-auth/signet/cmd/internal/testissuer"
)

func TestAcceptsIssuerTokensOnly(t *testing.T) {
	testissuer.CheckResourceServer(t, videoapi.Server())
}
