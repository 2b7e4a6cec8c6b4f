package aritest

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestFiveThousandLiveChannels holds 5,000 answered channels at once and
// checks that waiting channels cost timers, not goroutines.
func TestFiveThousandLiveChannels(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const n = 5000
	s := NewT(t, WithDefaultPhone(Answer(time.Millisecond)))
	l := listen(t, s, "app="+app)

	base := runtime.NumGoroutine()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	user, pass := s.Credentials()
	ids := make(chan int, n)
	for i := range n {
		ids <- i
	}
	close(ids)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				u := fmt.Sprintf("%s/channels?app=%s&endpoint=PJSIP/%d@trunk&channelId=load-%d&timeout=-1", s.ARIURL(), app, i, i)
				req, err := http.NewRequest("POST", u, nil)
				if err != nil {
					errs <- err
					return
				}
				req.SetBasicAuth(user, pass)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("originate %d: status %d", i, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := n - 1; i >= 0; i -= 1000 {
		if _, err := s.WaitEvent(ctx, fmt.Sprintf("load-%d", i), "StasisStart"); err != nil {
			t.Fatal(err)
		}
	}
	l.waitType(fmt.Sprintf("load-%d", n-1), "StasisStart")
	live := 0
	for _, c := range s.Channels() {
		if c.InStasis {
			live++
		}
	}
	if live < n {
		t.Fatalf("%d channels in Stasis, want %d", live, n)
	}
	if g := runtime.NumGoroutine() - base; g > 100 {
		t.Fatalf("%d extra goroutines for %d idle channels", g, n)
	}
}
