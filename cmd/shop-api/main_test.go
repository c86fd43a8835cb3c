package main

import (
	"testing"

	"github.com/signet-auth/signet/cmd/internal/resource/shopapi"
	"github.com/signet-auth/signet/cmd/internal/testissuer"
)

func TestAcceptsIssuerTokensOnly(t *testing.T) {
	testissuer.CheckResourceServer(t, shopapi.Server())
}
