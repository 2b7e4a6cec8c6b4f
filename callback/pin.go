package callback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// MinPINKeyBytes is the shortest PIN key accepted (auth.pin_key).
const MinPINKeyBytes = 32

// PINKey is the server key PINs are stored under: a PIN is kept as
// HMAC-SHA-256(key, PIN), so that it can still be looked up by value (one
// index lookup for a PIN typed on the web page or in the IVR) while a copy
// of the database alone does not give the PINs away. Short PINs can be
// found from their HMACs by anyone who also has the key, so the key is
// kept out of the database and out of logs.
type PINKey struct {
	key []byte
	id  string
}

// NewPINKey returns the PIN key for key, which must have at least
// MinPINKeyBytes bytes.
func NewPINKey(key []byte) (*PINKey, error) {
	if len(key) < MinPINKeyBytes {
		return nil, fmt.Errorf("PIN key: %d bytes, want at least %d: %w", len(key), MinPINKeyBytes, ErrInvalid)
	}
	k := &PINKey{key: append([]byte(nil), key...)}
	k.id = k.sum("callbackd pin key id")[:16]
	return k, nil
}

// Hash returns the stored form of pin: HMAC-SHA-256 under the key, in hex.
func (k *PINKey) Hash(pin string) string { return k.sum(pin) }

// ID names the key without giving it away: the first 8 bytes of its HMAC
// of a fixed text, in hex. Stored beside each hash, it tells PINs hashed
// under another key (the key was changed) from wrong PINs.
func (k *PINKey) ID() string { return k.id }

func (k *PINKey) sum(s string) string {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}
