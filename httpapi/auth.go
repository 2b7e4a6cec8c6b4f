package httpapi

import (
	"net/http"
	"strings"
)

// principal is who a request acts for: an account, which sees and creates
// only its own requests, or the operator, who holds an API token.
type principal struct {
	username string
	operator bool
}

func (p principal) String() string {
	if p.operator {
		return "operator"
	}
	return p.username
}

// owns reports whether p may see username's requests.
func (p principal) owns(username string) bool { return p.operator || p.username == username }

// authenticate checks the Authorization header: HTTP Basic with an
// account's username and password, or Bearer with an operator API token.
// Every failure reads the same to the client.
func (a *api) authenticate(r *http.Request) (principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return principal{}, newError(http.StatusUnauthorized, CodeUnauthenticated,
			"credentials required: HTTP Basic with an account, or Bearer with an API token")
	}
	src := clientAddrOf(r)
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		if !a.tokenFailures.Peek(r.Context(), src).Token {
			return principal{}, &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited,
				Message: "too many failed attempts; try again later", RetryAfter: a.tokenFailures.Limit().Every}
		}
		if !a.auth.Token(strings.TrimSpace(rest)) {
			a.tokenFailures.TakeContext(r.Context(), src)
			a.log.Warn("API token refused", "source", src)
			return principal{}, newError(http.StatusUnauthorized, CodeUnauthenticated, badCredentials)
		}
		p := principal{operator: true}
		setAccount(r, p)
		return p, nil
	case strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok || user == "" {
			return principal{}, newError(http.StatusUnauthorized, CodeUnauthenticated, badCredentials)
		}
		acct, err := a.auth.Password(r.Context(), user, pass, src)
		if err != nil {
			if ce := classify(err); ce.Status != http.StatusInternalServerError {
				a.log.Warn("login refused", "source", src, "reason", ce.Code)
			}
			return principal{}, err
		}
		p := principal{username: acct.Username}
		setAccount(r, p)
		return p, nil
	}
	return principal{}, newError(http.StatusUnauthorized, CodeUnauthenticated, "unsupported authorization scheme: use Basic or Bearer")
}
