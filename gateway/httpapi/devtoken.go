package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"shop/proto/limits"
	"shop/stack/devissuer"
)

// DevTokenPath is the route of the development issuer.
const DevTokenPath = "/dev/token"

// DevTokens is the development issuer behind POST /dev/token: whoever can
// reach that route can be any user, so it is mounted only when a
// DevTokens is given (`make run` does, never by default).
type DevTokens struct {
	// Key signs the tokens; the gateway's JWKS must hold its public key.
	Key *devissuer.Key
	// Issuer and Audience are the tokens' iss and aud, as the gateway
	// checks them.
	Issuer, Audience string
	// TTL is the tokens' lifetime (devissuer.DefaultTTL when zero).
	TTL time.Duration
}

// DevTokenRequest is the body of POST /dev/token.
type DevTokenRequest struct {
	UserID string `json:"user_id"`
}

// DevTokenResponse is a token for the Authorization header, as an OAuth
// token endpoint answers.
type DevTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// devToken issues a token for the user id in the body: 200 with the token,
// 400 for a malformed body or user id. Development only, not in the API
// document.
func (d *DevTokens) devToken(c *gin.Context) {
	var req DevTokenRequest
	if err := decodeJSON(c.Request.Body, &req); err != nil {
		abortWith(c, err)
		return
	}
	if err := limits.UserID(req.UserID); err != nil {
		abortWith(c, invalidArgument(err.Error()))
		return
	}
	ttl := d.TTL
	if ttl <= 0 {
		ttl = devissuer.DefaultTTL
	}
	token, err := d.Key.Token(devissuer.Claims{Subject: req.UserID, Issuer: d.Issuer, Audience: d.Audience, TTL: ttl})
	if err != nil {
		abortWith(c, invalidArgument(err.Error()))
		return
	}
	c.JSON(http.StatusOK, DevTokenResponse{AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second)})
}
