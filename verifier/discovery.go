package verifier

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// discoveryDoc is what the verifier reads of the issuer's discovery
// document.
type discoveryDoc struct {
	Issuer         string `json:"issuer"`
	JWKSURI        string `json:"jwks_uri"`
	RevocationFeed string `json:"revocation_feed_endpoint"`
}

// fetchDiscovery fetches issuer's OpenID discovery document, with the body
// capped at maxBody, and checks that it names issuer exactly.
func fetchDiscovery(ctx context.Context, client *http.Client, issuer string, maxBody int64) (discoveryDoc, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return discoveryDoc{}, fmt.Errorf("discovery request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return discoveryDoc{}, fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		drain(resp.Body)
		return discoveryDoc{}, fmt.Errorf("discovery: status %d", resp.StatusCode)
	}
	body, err := readCapped(resp.Body, maxBody)
	if err != nil {
		return discoveryDoc{}, fmt.Errorf("discovery: %w", err)
	}
	var doc discoveryDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return discoveryDoc{}, fmt.Errorf("discovery: %w", err)
	}
	if doc.Issuer != issuer {
		return discoveryDoc{}, fmt.Errorf("discovery: issuer %q does not match the configured issuer %q", doc.Issuer, issuer)
	}
	return doc, nil
}
