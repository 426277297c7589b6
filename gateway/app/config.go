// Package app wires the gateway: configuration from the environment, the
// gRPC clients of the backends, and the HTTP server with graceful shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"time"

	"shop/service"
	"shop/service/grpctls"
)

// Config is the gateway's configuration: each field's variable and default
// are in its tag. Build it with LoadConfig, or DefaultConfig in tests; Run
// validates it.
type Config struct {
	// GatewayEndpoint is the listen address (GATEWAY_HTTP_ADDR); port 0
	// picks a free port, reported through Ready.
	service.GatewayEndpoint
	// Admin is the admin listener (GATEWAY_ADMIN_ADDR): /metrics and
	// /debug/pprof/, never on the public port; port 0 picks a free port,
	// reported through AdminReady.
	Admin service.GatewayAdmin
	// Orders and Payments are the backends the gateway dials.
	Orders   service.OrdersEndpoint
	Payments service.PaymentsEndpoint
	// GRPC is how the gateway dials them: mutual TLS with its certificate
	// (GRPC_TLS_*), or plaintext with GRPC_INSECURE=true.
	GRPC grpctls.Client
	// BackendTimeout is the deadline of each backend call and of the
	// /readyz checks (a Go duration such as "3s").
	BackendTimeout time.Duration `env:"GATEWAY_BACKEND_TIMEOUT, default=3s"`
	// Process is the log level (main builds the logger with it) and the
	// bound of the graceful shutdown of the HTTP server.
	Process service.Process
	// Auth is how the caller of /api/v1 is established.
	Auth Auth
	// RateLimit is each identity's request rate on /api/v1 (requests per
	// second, 0: no limit) and burst: on by default, at numbers a shopper
	// never reaches (docs/security.md).
	RateLimit float64 `env:"GATEWAY_RATE_LIMIT, default=5"`
	RateBurst int     `env:"GATEWAY_RATE_BURST, default=20"`
	// Stream configures GET /api/v1/orders/stream (stream.go).
	Stream Stream

	// Ready, when set, is called once with the bound HTTP address as soon
	// as the server accepts connections. Not read from the environment.
	Ready func(addr net.Addr)
	// AdminReady, when set, is called once with the bound admin address,
	// before Ready. Not read from the environment.
	AdminReady func(addr net.Addr)
}

// DefaultConfig returns the configuration with every default applied.
func DefaultConfig() Config { return service.Defaults[Config]() }

// LoadConfig reads the configuration from lookup (os.LookupEnv in main):
// a variable that is unset or empty keeps its default. It returns an error
// for a value that does not parse or a configuration that does not
// Validate.
func LoadConfig(ctx context.Context, lookup service.Lookup) (Config, error) {
	var cfg Config
	if err := service.Load(ctx, lookup, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, c.GatewayEndpoint.Validate(), c.Admin.Validate(), c.Orders.Validate(), c.Payments.Validate(), c.GRPC.Validate())
	if c.BackendTimeout <= 0 {
		errs = append(errs, fmt.Errorf("GATEWAY_BACKEND_TIMEOUT must be positive, got %s", c.BackendTimeout))
	}
	errs = append(errs, c.Process.Validate(), c.Auth.Validate(), checkDevIssuerBind(c.Auth.DevIssuerKey, c.HTTPAddr), c.Stream.Validate())
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		errs = append(errs, fmt.Errorf("GATEWAY_RATE_LIMIT must be a number of requests per second, 0 or more (0: no limit), got %v", c.RateLimit))
	}
	if c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("GATEWAY_RATE_BURST must be at least 1, got %d", c.RateBurst))
	}
	return errors.Join(errs...)
}

// checkJWKSURL accepts an https URL, or an http one whose host is this
// machine: whoever can change the key set on its way can sign any token.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("AUTH_JWKS_URL %q: want an http(s) URL", raw)
	}
	if u.Scheme == "http" && !service.LoopbackHost(u.Hostname()) {
		return fmt.Errorf("AUTH_JWKS_URL %q: the key set must be fetched over https (http only from localhost, 127.0.0.0/8 or ::1): "+
			"anyone on the path could add a key and sign any token", raw)
	}
	return nil
}

// checkDevIssuerBind refuses the development issuer on a gateway that
// listens beyond this machine: POST /dev/token gives a token for any user.
func checkDevIssuerBind(devIssuerKey, httpAddr string) error {
	if devIssuerKey == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(httpAddr)
	if err != nil || !service.LoopbackHost(host) {
		return fmt.Errorf("AUTH_DEV_ISSUER_KEY is set but GATEWAY_HTTP_ADDR %q is not a loopback address: "+
			"the development issuer gives a token for any user id to whoever reaches it; unset AUTH_DEV_ISSUER_KEY or bind to 127.0.0.1", httpAddr)
	}
	return nil
}

// Auth is how the gateway establishes the caller (docs/security.md, "Identity").
// In jwt mode a bearer token is verified with the keys of a JWK Set (a URL
// or a file) or an HS256 secret, and must carry Issuer and Audience.
type Auth struct {
	service.AuthMode
	JWKSURL  string `env:"AUTH_JWKS_URL"`
	JWKSFile string `env:"AUTH_JWKS_FILE"`
	// HS256Secret, when set, also accepts HS256 tokens signed with it
	// (at least 32 bytes). Never logged.
	HS256Secret string        `env:"AUTH_HS256_SECRET"`
	Issuer      string        `env:"AUTH_ISSUER"`
	Audience    string        `env:"AUTH_AUDIENCE"`
	Leeway      time.Duration `env:"AUTH_LEEWAY, default=30s"`
	// MaxTokenLifetime bounds how long a token may be valid: exp - iat,
	// or exp - now for a token without iat. A stolen long-lived token is
	// refused rather than trusted for months.
	MaxTokenLifetime time.Duration `env:"AUTH_MAX_TOKEN_LIFETIME, default=24h"`
	// DevIssuerKey, when set, is the development issuer's private key
	// file: POST /dev/token gives a token for any user id. `make run` sets
	// it; never set it where strangers reach the gateway.
	DevIssuerKey string        `env:"AUTH_DEV_ISSUER_KEY"`
	DevTokenTTL  time.Duration `env:"AUTH_DEV_TOKEN_TTL, default=1h"`
}

// Validate checks the mode and, in jwt mode, that there is one key source
// and the claims to check.
func (a *Auth) Validate() error {
	if err := a.AuthMode.Validate(); err != nil {
		return err
	}
	var errs []error
	if a.Leeway < 0 || a.Leeway > 5*time.Minute {
		errs = append(errs, fmt.Errorf("AUTH_LEEWAY must be 0 to 5m, got %s", a.Leeway))
	}
	if a.DevTokenTTL <= 0 || a.DevTokenTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("AUTH_DEV_TOKEN_TTL must be more than 0 and at most 24h, got %s", a.DevTokenTTL))
	}
	if a.MaxTokenLifetime <= 0 {
		errs = append(errs, fmt.Errorf("AUTH_MAX_TOKEN_LIFETIME must be positive, got %s", a.MaxTokenLifetime))
	} else if a.DevIssuerKey != "" && a.DevTokenTTL > a.MaxTokenLifetime {
		errs = append(errs, fmt.Errorf("AUTH_DEV_TOKEN_TTL %s exceeds AUTH_MAX_TOKEN_LIFETIME %s: its tokens would be refused", a.DevTokenTTL, a.MaxTokenLifetime))
	}
	if a.Mode == service.AuthHeader {
		if a.DevIssuerKey != "" {
			errs = append(errs, errors.New("AUTH_DEV_ISSUER_KEY needs AUTH_MODE=jwt: in header mode its tokens would not be read"))
		}
		return errors.Join(errs...)
	}
	switch {
	case a.JWKSURL != "" && a.JWKSFile != "":
		errs = append(errs, errors.New("AUTH_JWKS_URL and AUTH_JWKS_FILE are both set: give one"))
	case a.JWKSURL == "" && a.JWKSFile == "" && a.HS256Secret == "":
		errs = append(errs, errors.New("AUTH_MODE=jwt needs the keys that sign the tokens: AUTH_JWKS_URL or AUTH_JWKS_FILE (or AUTH_HS256_SECRET); "+
			"set AUTH_MODE=header to trust X-User-ID behind an authenticating proxy"))
	}
	if a.JWKSURL != "" {
		errs = append(errs, checkJWKSURL(a.JWKSURL))
	}
	if a.HS256Secret != "" && len(a.HS256Secret) < 32 {
		errs = append(errs, errors.New("AUTH_HS256_SECRET must be at least 32 bytes"))
	}
	if a.Issuer == "" || a.Audience == "" {
		errs = append(errs, errors.New("AUTH_MODE=jwt needs AUTH_ISSUER and AUTH_AUDIENCE, the iss and aud every token must carry"))
	}
	return errors.Join(errs...)
}
