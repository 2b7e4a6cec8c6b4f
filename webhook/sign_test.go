package webhook_test

import (
	"errors"
	"testing"
	"time"

	"github.com/callbackd/callbackd/webhook"
)

// The scheme as documented: t=<unix>,v1=hex(HMAC-SHA-256(secret, t "." body)).
// The expected value was computed outside Go (Python's hmac module).
func TestSignKnownVector(t *testing.T) {
	got := webhook.Sign([]byte("whsec_test_0123456789"), time.Unix(1767339000, 0), []byte(`{"id":1}`))
	want := "t=1767339000,v1=ffc0be44deb8d58856f454c9ff0921703fb0c111a27d5e919a4ad7b259188b6d"
	if got != want {
		t.Errorf("Sign = %s\nwant   %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("whsec_test_0123456789")
	body := []byte(`{"id":42,"type":"request.finished"}`)
	at := time.Unix(1767339000, 0)
	h := webhook.Sign(secret, at, body)
	for _, c := range []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"good", secret, h, body, at.Add(time.Minute), nil},
		{"another scheme beside v1", secret, "v0=abc, " + h + ",x=1", body, at, nil},
		{"body changed", secret, h, []byte(`{"id":43,"type":"request.finished"}`), at, webhook.ErrBadSignature},
		{"other secret", []byte("whsec_other_0123456789"), h, body, at, webhook.ErrBadSignature},
		{"replayed later", secret, h, body, at.Add(6 * time.Minute), webhook.ErrStale},
		{"from the future", secret, h, body, at.Add(-6 * time.Minute), webhook.ErrStale},
		{"no timestamp", secret, h[len("t=1767339000,"):], body, at, webhook.ErrNoSignature},
		{"timestamp changed", secret, "t=1767339001" + h[len("t=1767339000"):], body, at, webhook.ErrBadSignature},
		{"empty", secret, "", body, at, webhook.ErrNoSignature},
	} {
		err := webhook.Verify(c.secret, c.header, c.body, 5*time.Minute, c.now)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
	}
}
