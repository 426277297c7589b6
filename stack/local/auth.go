package local

import (
	"path/filepath"

	"shop/service"
	"shop/stack/devissuer"
)

// DevIssuerDir is where a System in jwt mode keeps its development
// issuer's key (devissuer.KeyFile) and public JWK Set (devissuer.JWKSFile):
// created on the first start, kept across restarts like the data.
func DevIssuerDir(dataDir string) string { return filepath.Join(dataDir, "devissuer") }

// gatewayAuthEnv is the gateway's authentication settings: in jwt mode the
// development issuer's keys, claims and POST /dev/token; otherwise header
// mode.
func (s *System) gatewayAuthEnv() ([]string, error) {
	if s.cfg.AuthMode != service.AuthJWT {
		return []string{"AUTH_MODE=" + service.AuthHeader}, nil
	}
	_, keyPath, jwksPath, err := devissuer.Ensure(DevIssuerDir(s.cfg.DataDir))
	if err != nil {
		return nil, err
	}
	return []string{
		"AUTH_MODE=" + service.AuthJWT,
		"AUTH_JWKS_FILE=" + jwksPath,
		"AUTH_JWKS_URL=",
		"AUTH_ISSUER=" + devissuer.Issuer,
		"AUTH_AUDIENCE=" + devissuer.Audience,
		"AUTH_DEV_ISSUER_KEY=" + keyPath,
	}, nil
}
