package apiload

import (
	"errors"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:8080/", "https://[::1]:8443", "http://127.1.2.3"} {
		if _, err := CheckURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://192.0.2.1", "http://example.com", "http://0.0.0.0:8080", "http://[::]:80", "http://127.0.0.1.nip.io"} {
		if _, err := CheckURL(bad); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("%s: %v, want ErrNotLoopback", bad, err)
		}
	}
	if _, err := CheckURL("ftp://127.0.0.1"); err == nil {
		t.Error("ftp accepted")
	}
}

func TestDialRefusesNonLoopback(t *testing.T) {
	if err := loopbackOnly("tcp", "192.0.2.1:80", nil); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("%v", err)
	}
	if err := loopbackOnly("tcp", "[::1]:80", nil); err != nil {
		t.Errorf("%v", err)
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if pct(d, 50) != 50*time.Millisecond || pct(d, 99) != 99*time.Millisecond || pct(d, 100) != 100*time.Millisecond {
		t.Errorf("p50 %s p99 %s", pct(d, 50), pct(d, 99))
	}
	if pct(nil, 50) != 0 || pct(d[:1], 99) != time.Millisecond {
		t.Error("small inputs")
	}
}
