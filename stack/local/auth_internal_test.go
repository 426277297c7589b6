package local

import (
	"os"
	"slices"
	"strings"
	"testing"

	"shop/service"
	"shop/stack/devissuer"
)

func TestGatewayAuthEnv(t *testing.T) {
	for _, mode := range []string{"", service.AuthHeader} {
		s := &System{cfg: SystemConfig{AuthMode: mode, Config: Config{DataDir: t.TempDir()}}}
		env, err := s.gatewayAuthEnv()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(env, []string{"AUTH_MODE=header"}) {
			t.Errorf("mode %q: env %v, want header mode only", mode, env)
		}
	}

	dir := t.TempDir()
	s := &System{cfg: SystemConfig{AuthMode: service.AuthJWT, Config: Config{DataDir: dir}}}
	env, err := s.gatewayAuthEnv()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	if vars["AUTH_MODE"] != "jwt" || vars["AUTH_ISSUER"] != devissuer.Issuer || vars["AUTH_AUDIENCE"] != devissuer.Audience {
		t.Errorf("env %v: want jwt mode with the development issuer's claims", env)
	}
	for _, f := range []string{vars["AUTH_JWKS_FILE"], vars["AUTH_DEV_ISSUER_KEY"]} {
		if !strings.HasPrefix(f, DevIssuerDir(dir)) {
			t.Errorf("file %q not under the data directory's issuer directory", f)
		}
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	// A restart keeps the key, so tokens given out stay valid.
	key, err := devissuer.Load(vars["AUTH_DEV_ISSUER_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.gatewayAuthEnv(); err != nil {
		t.Fatal(err)
	}
	again, err := devissuer.Load(vars["AUTH_DEV_ISSUER_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	if again.KeyID() != key.KeyID() {
		t.Error("the key changed on a restart")
	}
}
