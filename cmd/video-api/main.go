// Command video-api is a demo resource server written with Gin: it knows
// only the issuer's URL and its own resource indicator, and verifies
// access tokens offline with package verifier through ginverifier.
package main

import (
	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/cmd/internal/resource/videoapi"
)

func main() { resource.Main(videoapi.Server()) }
