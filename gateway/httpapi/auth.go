package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"shop/proto/limits"
)

// The challenges of a 401 (RFC 6750): no bearer token at all, a malformed
// Authorization header, a token that does not verify.
const (
	challengeBearer        = `Bearer`
	challengeInvalidReq    = `Bearer error="invalid_request"`
	challengeInvalidToken  = `Bearer error="invalid_token"`
	headerWWWAuthenticate  = "WWW-Authenticate"
	headerAuthorization    = "Authorization"
	minHS256SecretLen      = 32
	maxBearerTokenLen      = 8 << 10
	jwksRefreshEvery       = time.Hour
	jwksUnknownKIDInterval = 30 * time.Second
	jwksFetchTimeout       = 5 * time.Second
)

// ChallengeError is an authentication failure answered with 401, its
// Message in the body and Challenge in the WWW-Authenticate header.
type ChallengeError struct {
	Challenge string
	Message   string
}

func (e *ChallengeError) Error() string { return e.Message }

// KeySet finds the key that verifies a token, by the kid in its header (or
// every key, without one). keyfunc.Keyfunc is one.
type KeySet interface {
	KeyfuncCtx(ctx context.Context) jwt.Keyfunc
}

// JWKSFromFile returns the key set in the JWK Set file path, read once. Of
// the key sets here, only the keys meant to verify signatures are used
// ("use" absent or "sig"; "key_ops" absent or with "verify").
func JWKSFromFile(path string) (KeySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("AUTH_JWKS_FILE: %w", err)
	}
	ks, err := keyfunc.NewJWKSetJSON(b)
	if err != nil {
		return nil, fmt.Errorf("AUTH_JWKS_FILE %s: %w", path, err)
	}
	return onlySigningKeys(context.Background(), ks)
}

// JWKSFromURL returns the key set served at url: fetched now (a failure is
// logged, not returned, so the gateway starts while the issuer is down),
// refreshed every hour and when a token names a kid it does not have, at
// most once per 30 s. The refreshes stop when ctx ends.
func JWKSFromURL(ctx context.Context, url string, logger *slog.Logger) (KeySet, error) {
	return jwksFromURL(ctx, url, logger, jwksUnknownKIDInterval)
}

func jwksFromURL(ctx context.Context, url string, logger *slog.Logger, unknownKIDInterval time.Duration) (KeySet, error) {
	ks, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{url}, keyfunc.Override{
		Client:      &http.Client{Timeout: jwksFetchTimeout},
		HTTPTimeout: jwksFetchTimeout,
		// A token with an unknown kid waits for a refresh only when one
		// is allowed within this bound; otherwise it fails at once.
		RateLimitWaitMax:  jwksFetchTimeout,
		RefreshInterval:   jwksRefreshEvery,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKIDInterval), 1),
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				logger.WarnContext(ctx, "JWKS refresh failed", "url", u, "error", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("AUTH_JWKS_URL %s: %w", url, err)
	}
	return onlySigningKeys(ctx, ks)
}

// JWTConfig configures a JWTAuthenticator.
type JWTConfig struct {
	// Keys verifies RS256, ES256 and EdDSA tokens, each with a key of its
	// type. Keys, HS256Secret or both are required.
	Keys KeySet
	// HS256Secret, when set, verifies HS256 tokens; at least 32 bytes.
	HS256Secret []byte
	// Issuer and Audience are the iss and aud a token must have. Required.
	Issuer, Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// MaxLifetime, when positive, is the longest a token may be valid:
	// exp - iat, or for a token without iat, exp - now (plus Leeway).
	MaxLifetime time.Duration
}

// JWTAuthenticator establishes the caller from the bearer token in the
// Authorization header: a JWT whose signature, algorithm, exp, nbf, iss and
// aud verify; its sub is the user id. It is safe for concurrent use.
type JWTAuthenticator struct {
	keys        KeySet
	secret      []byte
	parser      *jwt.Parser
	maxLifetime time.Duration
	leeway      time.Duration
}

// NewJWTAuthenticator returns the authenticator of cfg, or an error when
// cfg lacks a key source, the issuer or the audience.
func NewJWTAuthenticator(cfg JWTConfig) (*JWTAuthenticator, error) {
	var errs []error
	if cfg.Keys == nil && cfg.HS256Secret == nil {
		errs = append(errs, errors.New("jwt: a key set or an HS256 secret is required"))
	}
	if cfg.HS256Secret != nil && len(cfg.HS256Secret) < minHS256SecretLen {
		errs = append(errs, fmt.Errorf("jwt: the HS256 secret must be at least %d bytes", minHS256SecretLen))
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		errs = append(errs, errors.New("jwt: issuer and audience are required"))
	}
	if cfg.Leeway < 0 {
		errs = append(errs, errors.New("jwt: leeway must not be negative"))
	}
	if cfg.MaxLifetime < 0 {
		errs = append(errs, errors.New("jwt: the maximum token lifetime must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var methods []string
	if cfg.Keys != nil {
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg())
	}
	if cfg.HS256Secret != nil {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	return &JWTAuthenticator{
		keys:        cfg.Keys,
		secret:      cfg.HS256Secret,
		maxLifetime: cfg.MaxLifetime,
		leeway:      cfg.Leeway,
		parser: jwt.NewParser(
			jwt.WithValidMethods(methods),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
		),
	}, nil
}

// Authenticate returns the identity in the request's bearer token, or a
// *ChallengeError: without a token, with a malformed Authorization header,
// or with a token that does not verify. X-User-ID is ignored.
func (a *JWTAuthenticator) Authenticate(r *http.Request) (Identity, error) {
	vals := r.Header.Values(headerAuthorization)
	switch {
	case len(vals) == 0:
		return nil, &ChallengeError{Challenge: challengeBearer, Message: "missing Authorization header with a bearer token"}
	case len(vals) > 1:
		return nil, &ChallengeError{Challenge: challengeInvalidReq, Message: "Authorization header must be given once"}
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, &ChallengeError{Challenge: challengeBearer, Message: "Authorization header must be: Bearer <token>"}
	}
	if len(token) > maxBearerTokenLen {
		return nil, invalidToken("token is too long")
	}
	var claims jwt.RegisteredClaims
	if _, err := a.parser.ParseWithClaims(token, &claims, a.keyfunc(r.Context())); err != nil {
		return nil, invalidToken(tokenProblem(err))
	}
	if msg := a.lifetimeProblem(claims, time.Now()); msg != "" {
		return nil, invalidToken(msg)
	}
	if limits.UserID(claims.Subject) != nil {
		return nil, invalidToken(fmt.Sprintf("token subject must be 1 to %d characters of A-Z, a-z, 0-9, '.', '_' or '-'", limits.MaxUserIDLen))
	}
	return userID(claims.Subject), nil
}

// lifetimeProblem says why a verified token lives too long, or "" when it
// does not: exp - iat, or exp - now without iat, beyond the maximum.
func (a *JWTAuthenticator) lifetimeProblem(c jwt.RegisteredClaims, now time.Time) string {
	if a.maxLifetime <= 0 || c.ExpiresAt == nil {
		return ""
	}
	if c.IssuedAt != nil {
		if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life > a.maxLifetime {
			return fmt.Sprintf("token lifetime (exp - iat) %s exceeds the maximum %s", life, a.maxLifetime)
		}
		return ""
	}
	if left := c.ExpiresAt.Sub(now); left > a.maxLifetime+a.leeway {
		return fmt.Sprintf("token without iat expires in %s, beyond the maximum lifetime %s", left.Round(time.Second), a.maxLifetime)
	}
	return ""
}

func invalidToken(msg string) *ChallengeError {
	return &ChallengeError{Challenge: challengeInvalidToken, Message: msg}
}

// tokenProblem says what is wrong with a token in words safe to show.
func tokenProblem(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "token is malformed"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token is expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "token has the wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "token has the wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "token lacks a required claim"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "token signature is invalid"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "token cannot be verified: unknown key or algorithm not accepted"
	}
	return "token is invalid"
}

// keyfunc returns the key for a token whose algorithm the parser already
// allowed: the HS256 secret for HS256, else the key set's key, only when
// its type is the algorithm's (an RSA or EC key is never used as an HMAC
// secret, nor an Ed25519 key for RS256).
func (a *JWTAuthenticator) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		if alg == jwt.SigningMethodHS256.Alg() {
			if a.secret == nil {
				return nil, errors.New("HS256 is not accepted")
			}
			return a.secret, nil
		}
		if a.keys == nil {
			return nil, fmt.Errorf("%s is not accepted", alg)
		}
		key, err := a.keys.KeyfuncCtx(ctx)(t)
		if err != nil {
			return nil, err
		}
		if set, ok := key.(jwt.VerificationKeySet); ok {
			var fit jwt.VerificationKeySet
			for _, k := range set.Keys {
				if keyFits(alg, k) {
					fit.Keys = append(fit.Keys, k)
				}
			}
			if len(fit.Keys) == 0 {
				return nil, fmt.Errorf("no key for %s", alg)
			}
			return fit, nil
		}
		if !keyFits(alg, key) {
			return nil, fmt.Errorf("key %v is not a key for %s", t.Header["kid"], alg)
		}
		return key, nil
	}
}

// keyFits reports whether key is a public key of the algorithm's type.
func keyFits(alg string, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg == jwt.SigningMethodRS256.Alg()
	case *ecdsa.PublicKey:
		return alg == jwt.SigningMethodES256.Alg() && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == jwt.SigningMethodEdDSA.Alg()
	}
	return false
}
