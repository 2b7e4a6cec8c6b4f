package ari_test

// Several Asterisk servers from one controller (ari.servers), against two
// real Asterisk 22 processes; skipped unless both are named:
//
//	CALLBACKD_REAL_ASTERISK=http://127.0.0.1:8088 \
//	CALLBACKD_REAL_ASTERISK_2=http://127.0.0.1:8089 \
//	go test ./ari -run RealAsteriskSeveralServers -v
//
// Both need the ARI user and the test context described in
// realasterisk_test.go. The controller reaches each through a TCP proxy of
// the test's, so that the test can cut one server off (its WebSocket and
// REST connections closed, new ones refused) as a crash or a lost network
// path would, while the Asterisk itself goes on.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/callback"
)

// entityID is the Asterisk's system entity id (asterisk.conf's entityid,
// else a MAC address): two servers that answer the same are one Asterisk.
func (ra realAsterisk) entityID(t *testing.T) string {
	t.Helper()
	st, body := ra.do(t, "GET", "/ari/asterisk/info", nil)
	if st != http.StatusOK {
		t.Fatalf("GET %s/ari/asterisk/info: %d %s", ra.base, st, body)
	}
	var info struct {
		System struct {
			EntityID string `json:"entity_id"`
		} `json:"system"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("asterisk info: %v", err)
	}
	return info.System.EntityID
}

// hasChannel reports whether the Asterisk holds channel id.
func (ra realAsterisk) hasChannel(t *testing.T, id string) bool {
	t.Helper()
	st, _ := ra.do(t, "GET", "/ari/channels/"+url.PathEscape(id), nil)
	return st == http.StatusOK
}

func TestRealAsteriskSeveralServers(t *testing.T) {
	ra1 := realAsteriskFromEnv(t)
	base2 := os.Getenv("CALLBACKD_REAL_ASTERISK_2")
	if base2 == "" {
		t.Skip("set CALLBACKD_REAL_ASTERISK_2=http://127.0.0.1:8089 (a second Asterisk, same ARI user and test context) to run against two real Asterisk servers")
	}
	ra2 := ra1
	ra2.base = strings.TrimRight(base2, "/")
	if a, b := ra1.entityID(t), ra2.entityID(t); a == b {
		t.Fatalf("both URLs reach the same Asterisk (entity id %s): start a second one with its own entityid", a)
	}
	host := func(base string) string {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		return u.Host
	}
	p1, p2 := newProxy(t, host(ra1.base)), newProxy(t, host(ra2.base))
	cb := startRealCallbackd(t, ra1, ra1.base,
		ari.WithServer(ari.Server{Name: "ast1", URL: p1.url(), User: ra1.user, Password: ra1.pass}),
		ari.WithServer(ari.Server{Name: "ast2", URL: p2.url(), User: ra2.user, Password: ra2.pass}))
	ctx := context.Background()
	// appReady waits until the controller's Stasis app is registered on
	// ra: its events WebSocket is up there.
	appReady := func(ra realAsterisk) {
		t.Helper()
		for range 100 {
			if st, _ := ra.do(t, "GET", "/ari/applications/"+cb.prefix, nil); st == http.StatusOK {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the controller's app %s is not registered on %s after 10 s", cb.prefix, ra.base)
	}
	appReady(ra1)
	appReady(ra2)
	legA := func(id int64) (string, error) {
		r, err := cb.st.GetRequest(ctx, id)
		if err != nil {
			return "", err
		}
		return r.CallID, nil
	}
	onServer := func(id int64) string {
		t.Helper()
		call, err := legA(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"ast1", "ast2"} {
			if strings.HasPrefix(call, cb.prefix+"-"+name+"-") {
				return name
			}
		}
		t.Fatalf("request %d: leg A %q names no server", id, call)
		return ""
	}

	// Four callbacks at once: the fewest-channels placement puts two on
	// each server, and each leg is where its id says.
	var ids []int64
	for range 4 {
		r := twoWay("100", "200")
		if err := cb.svc.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	cb.obs.waitAnswered(t, callback.LegB, 4)
	per := map[string][]int64{}
	for _, id := range ids {
		s := onServer(id)
		per[s] = append(per[s], id)
		own, other := ra1, ra2
		if s == "ast2" {
			own, other = ra2, ra1
		}
		for _, leg := range []string{"a", "b"} {
			ch := fmt.Sprintf("%s-%s-%d-1-%s", cb.prefix, s, id, leg)
			if !own.hasChannel(t, ch) {
				t.Errorf("request %d: leg %s (%s) is not on %s", id, leg, ch, own.base)
			}
			if other.hasChannel(t, ch) {
				t.Errorf("request %d: leg %s (%s) is also on %s", id, leg, ch, other.base)
			}
		}
	}
	t.Logf("placement: ast1 %v, ast2 %v", per["ast1"], per["ast2"])
	if len(per["ast1"]) != 2 || len(per["ast2"]) != 2 {
		t.Fatalf("placement: ast1 %v, ast2 %v, want two callbacks on each", per["ast1"], per["ast2"])
	}

	// ast2 cut off while its two calls talk: they are settled without
	// being dialled anywhere again, the calls on ast1 go on, and a new
	// callback goes to ast1.
	cut := time.Now()
	p2.block()
	fresh := twoWay("100", "200")
	if err := cb.svc.Create(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	for _, id := range append(per["ast2"], per["ast1"]...) {
		got := cb.done.wait(t, id)
		t.Logf("request %d on %s: %s/%s after %d calls, %s after the cut", id, onServer(id), got.Status, got.Result, got.CallCount, time.Since(cut).Round(time.Millisecond))
		if got.Status != callback.StatusFinished || got.CallCount != 1 {
			t.Errorf("request %d: %s/%s after %d calls, want finished after its one call", id, got.Status, got.Result, got.CallCount)
		}
	}
	got := cb.done.wait(t, fresh.ID)
	if got.Result != callback.ResultSuccessful || onServer(fresh.ID) != "ast1" {
		t.Fatalf("callback created after the cut: %s/%s on %s, want Successful on ast1", got.Status, got.Result, got.CallID)
	}

	// ast2 back: the controller subscribes again, reconciles (the bridges
	// its calls left there are destroyed) and places there again. Its app
	// is registered before the reconciliation ends, so pairs of callbacks
	// are placed until one lands on ast2, for 5 rounds at most.
	p2.unblock()
	appReady(ra2)
	back := false
	for round := 0; round < 5 && !back; round++ {
		var again []int64
		for range 2 {
			r := twoWay("100", "200")
			if err := cb.svc.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			again = append(again, r.ID)
		}
		for _, id := range again {
			if got := cb.done.wait(t, id); got.Result != callback.ResultSuccessful {
				t.Errorf("request %d after ast2 came back: %s/%s", id, got.Status, got.Result)
			}
			if onServer(id) == "ast2" {
				back = true
				t.Logf("after ast2 came back: request %d placed on it (round %d)", id, round+1)
			}
		}
	}
	if !back {
		t.Errorf("after ast2 came back, 5 pairs of callbacks at once all went to ast1")
	}
	// Nothing of ours is left on either Asterisk.
	for _, ra := range []realAsterisk{ra1, ra2} {
		for range 100 {
			st, body := ra.do(t, "GET", "/ari/channels", nil)
			if st != http.StatusOK {
				t.Fatalf("GET %s/ari/channels: %d %s", ra.base, st, body)
			}
			if !strings.Contains(body, cb.prefix) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, body := ra.do(t, "GET", "/ari/channels", nil); strings.Contains(body, cb.prefix) {
			t.Errorf("channels of the controller left on %s: %s", ra.base, body)
		}
	}
}
