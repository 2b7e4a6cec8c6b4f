package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of every notification:
//
//	Callbackd-Signature: t=1767339000,v1=5f2b...e9
//
// t is the Unix time the attempt was signed at; v1 is the lowercase hex
// HMAC-SHA-256, under the webhook's secret, of t, a period and the raw
// body ("1767339000.{...}"). A receiver recomputes v1 over the bytes it
// received, compares in constant time, and refuses a t too far from its
// clock (Verify's tolerance), so that a captured request cannot be played
// again later. Each attempt is signed afresh; the body does not change.
const SignatureHeader = "Callbackd-Signature"

// Other headers of a notification.
const (
	DeliveryHeader = "Callbackd-Delivery" // the outbox row's id: the same on every attempt
	EventHeader    = "Callbackd-Event"    // the payload's type
)

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("webhook: no v1 signature or timestamp")
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance")
)

// Sign returns the Callbackd-Signature value of body signed at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header, a Callbackd-Signature value, against body: one of
// its v1 signatures must be body's under secret, and its t within
// tolerance of now (a tolerance of 0 skips that check). Unknown keys are
// ignored, so a later scheme can be added beside v1.
func Verify(secret []byte, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: signed %s ago, tolerance %s", ErrStale, d.Round(time.Second), tolerance)
		}
	}
	return nil
}
