// Command shop-api is a demo resource server written with net/http: it
// knows the issuer's URL and its own resource indicator, verifies access
// tokens offline with package verifier, and calls video-api on a user's
// behalf through token exchange, authenticated with its own key.
package main

import (
	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/cmd/internal/resource/shopapi"
)

func main() { resource.Main(shopapi.Server()) }
