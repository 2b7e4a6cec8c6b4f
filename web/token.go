package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// MinKeyBytes is the shortest key Options.Key may be.
const MinKeyBytes = 32

// keys are the subkeys derived from the configured key, one per use, so
// that a value signed for one purpose is never valid for another.
type keys struct {
	csrf      []byte
	statusMAC []byte
	status    cipher.Block
}

func deriveKeys(key []byte) (*keys, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("web key: %d bytes, want at least %d", len(key), MinKeyBytes)
	}
	sub := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("callbackd web " + label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(sub("status encryption")[:16])
	if err != nil {
		return nil, fmt.Errorf("web key: %w", err)
	}
	return &keys{csrf: sub("csrf"), statusMAC: sub("status mac"), status: block}, nil
}

// statusToken is the public name of request id: one AES block holding the
// id and an 8-byte MAC of it. Encrypting hides the id (no counting how many
// callbacks the operator places); the MAC inside makes a forged or altered
// token decrypt to garbage that fails the check.
func (k *keys) statusToken(id int64) string {
	var block [16]byte
	binary.BigEndian.PutUint64(block[:8], uint64(id))
	copy(block[8:], k.idMAC(block[:8]))
	k.status.Encrypt(block[:], block[:])
	return base64.RawURLEncoding.EncodeToString(block[:])
}

func (k *keys) parseStatusToken(tok string) (int64, bool) {
	if len(tok) != 22 {
		return 0, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != 16 {
		return 0, false
	}
	k.status.Decrypt(raw, raw)
	if !hmac.Equal(raw[8:], k.idMAC(raw[:8])) {
		return 0, false
	}
	id := int64(binary.BigEndian.Uint64(raw[:8]))
	return id, id > 0
}

func (k *keys) idMAC(id []byte) []byte {
	m := hmac.New(sha256.New, k.statusMAC)
	m.Write(id)
	return m.Sum(nil)[:8]
}

// StatusPath returns the path of the public status page of request id for
// a page configured with key, e.g. for the email trigger to put in its
// reply. It returns "" when key is too short to be used.
func StatusPath(key []byte, id int64) string {
	k, err := deriveKeys(key)
	if err != nil {
		return ""
	}
	return "/callback/status/" + k.statusToken(id)
}

// CSRF: each form carries a token bound to the browser's CSRF cookie and to
// the form's mode, signed, with an expiry, and good for one submission.

const (
	csrfCookie   = "callbackd_csrf"
	csrfNonceLen = 12
	csrfMACLen   = 16
	csrfTokenLen = csrfNonceLen + 8 + csrfMACLen
	// maxUsedTokens bounds the memory of spent tokens. Beyond it, forms are
	// refused until old tokens expire: the per-source limit keeps honest
	// traffic far below it.
	maxUsedTokens = 200000
)

var (
	errCSRFMissing = errors.New("the form has no security token or the browser sent no cookie")
	errCSRFInvalid = errors.New("the form's security token is not valid for this browser")
	errCSRFExpired = errors.New("the form has expired")
	errCSRFReused  = errors.New("the form was already sent")
	errCSRFFull    = errors.New("too many forms in flight")
)

// csrf issues and checks form tokens and remembers spent ones until they
// expire. Spent tokens are kept in this process only: behind several nodes
// a replay could reach another node, where the cookie binding and the
// expiry still hold.
type csrf struct {
	key []byte
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	used  map[string]time.Time
	swept time.Time
}

func newCSRF(key []byte, ttl time.Duration, now func() time.Time) *csrf {
	return &csrf{key: key, ttl: ttl, now: now, used: map[string]time.Time{}}
}

// newCookieValue returns a fresh random browser binding.
func newCookieValue() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func validCookieValue(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 16
}

func (c *csrf) mac(mode, cookie string, nonceExp []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(mode))
	m.Write([]byte{0})
	m.Write([]byte(cookie))
	m.Write([]byte{0})
	m.Write(nonceExp)
	return m.Sum(nil)[:csrfMACLen]
}

// issue returns a token for a form of mode in the browser holding cookie.
func (c *csrf) issue(mode, cookie string) string {
	var b [csrfTokenLen]byte
	rand.Read(b[:csrfNonceLen])
	binary.BigEndian.PutUint64(b[csrfNonceLen:], uint64(c.now().Add(c.ttl).Unix()))
	copy(b[csrfNonceLen+8:], c.mac(mode, cookie, b[:csrfNonceLen+8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// spend checks token against cookie and mode and marks it spent.
func (c *csrf) spend(mode, cookie, token string) error {
	if cookie == "" || token == "" {
		return errCSRFMissing
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != csrfTokenLen || !validCookieValue(cookie) {
		return errCSRFInvalid
	}
	if !hmac.Equal(b[csrfNonceLen+8:], c.mac(mode, cookie, b[:csrfNonceLen+8])) {
		return errCSRFInvalid
	}
	now := c.now()
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[csrfNonceLen:])), 0)
	if !now.Before(exp) {
		return errCSRFExpired
	}
	nonce := string(b[:csrfNonceLen])
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.swept) > time.Minute || len(c.used) >= maxUsedTokens {
		for n, e := range c.used {
			if !now.Before(e) {
				delete(c.used, n)
			}
		}
		c.swept = now
	}
	if _, ok := c.used[nonce]; ok {
		return errCSRFReused
	}
	if len(c.used) >= maxUsedTokens {
		return errCSRFFull
	}
	c.used[nonce] = exp
	return nil
}
