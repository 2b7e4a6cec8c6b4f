package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/ari"
	"github.com/callbackd/callbackd/ari/aritest"
	"github.com/callbackd/callbackd/ari/callingcard"
	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/billing"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/callback/callbacktest"
	"github.com/callbackd/callbackd/tariff"
)

// TestExtendedAnnouncesBalanceAndTalkTime places an extended-mode request
// made on the page through the real dispatcher and ARI controller, with
// the sub-applications callbackd serve registers, against the simulated
// Asterisk: when the user answers, leg A hears the balance and the
// maximum call duration (seed 002, PortaSIP's extended web callback), is
// asked for nothing, and only then is the destination dialled.
func TestExtendedAnnouncesBalanceAndTalkTime(t *testing.T) {
	for _, stc := range stores {
		t.Run(stc.name, func(t *testing.T) {
			st := stc.open(t)
			ctx := t.Context()
			seedAccounts(t, st)
			a, err := st.GetAccount(ctx, testAccount)
			if err != nil {
				t.Fatal(err)
			}
			a.Tariff = "retail" // 10.00 USD
			if err := st.UpdateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
			// Leg A 0.60/min, leg B 1.20/min: 10.00 buys 5 whole minutes.
			if _, err := st.ImportRates(ctx, "retail", []callback.TariffRate{
				{Prefix: "420", PricePerMinute: 6_000, FirstIncrement: 1, NextIncrement: 1},
				{Prefix: "44", PricePerMinute: 12_000, FirstIncrement: 1, NextIncrement: 1},
			}, true); err != nil {
				t.Fatal(err)
			}

			sim := aritest.NewT(t)
			sim.Phone("420777123456", aritest.Answer(5*time.Millisecond))
			sim.Phone("442079460958", aritest.Answer(5*time.Millisecond).ThenHangup(300*time.Millisecond, aritest.CauseNormalClearing))
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			biller := billing.New(st, tariff.NewCache(st, time.Minute), billing.Options{Logger: log})
			cc, err := callingcard.New(callingcard.Options{Biller: biller, PINs: auth.New(st, nil, time.Minute, 5),
				InterDigit: 300 * time.Millisecond, DestinationTotal: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			user, pass := sim.Credentials()
			ctl, err := ari.New(ari.WithURL(sim.URL()), ari.WithCredentials(user, pass), ari.WithLogger(log),
				ari.WithApp(callback.SubAppCallingCard, cc), ari.WithApp(callback.SubAppTwoWay, ari.TwoWay{Biller: biller, BusyPrompts: true}))
			if err != nil {
				t.Fatal(err)
			}
			p := callback.DefaultPolicy()
			p.DelayBeforeCallback = 0
			p.ScanInterval = 50 * time.Millisecond
			p.ShutdownGrace = 2 * time.Second
			p.Timeout = 2 * time.Second
			p.MaxAttempts = 1
			done := callbacktest.NewConcluded()
			d, err := callback.NewDispatcher(callback.DispatcherOptions{Store: st, Dialer: ctl, Policy: p, Node: "web-ari-test",
				Logger: log, Observer: done})
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(context.Background())
			ctlDone, dispDone := make(chan struct{}), make(chan struct{})
			go func() { defer close(ctlDone); ctl.Run(runCtx) }()
			go func() { defer close(dispDone); d.Run(runCtx) }()
			t.Cleanup(func() { stop(); <-dispDone; <-ctlDone })

			tp := newTestPage(t, st, &callback.Service{Store: st, Policy: p, Notify: d.Notify})
			if r := tp.user().submit(ModeExtended, extended("+420 777 123 456", "+44 20 7946 0958")); r.code != http.StatusSeeOther {
				t.Fatalf("submit: %d\n%s", r.code, r.body)
			}
			id := tp.requests()[0].ID
			got := done.WaitFinished(t, st, id)
			if got.Result != callback.ResultSuccessful {
				t.Fatalf("request finished %s/%s %q", got.Status, got.Result, got.LastError)
			}

			legA := "cbd-" + strconv.FormatInt(id, 10) + "-1-a"
			var media []string
			created := -1 // index in media when leg B was created
			for _, r := range sim.Requests() {
				switch {
				case r.Method == "POST" && r.Path == "/ari/channels/"+legA+"/play":
					media = append(media, strings.Split(r.Query.Get("media"), ",")...)
				case r.Method == "POST" && r.Path == "/ari/channels/create" && created < 0:
					if !strings.Contains(r.Query.Get("endpoint"), "442079460958") {
						t.Errorf("leg B created to %s", r.Query.Get("endpoint"))
					}
					created = len(media)
				}
			}
			want := []string{"sound:callbackd/your-balance-is", "number:10", "sound:callbackd/currency-USD",
				"sound:callbackd/you-have", "number:5", "sound:callbackd/minutes-of-talk-time", "sound:callbackd/connecting"}
			if !slices.Equal(media, want) {
				t.Errorf("leg A heard %q, want %q", media, want)
			}
			if created != len(want) {
				t.Errorf("leg B was created after %d of the %d announcements", created, len(want))
			}
			cdrs, err := st.ListCDRs(ctx, callback.CDRFilter{RequestID: id})
			if err != nil {
				t.Fatal(err)
			}
			if len(cdrs) != 2 || cdrs[1].Number != "442079460958" || cdrs[1].Account != testAccount || cdrs[1].Charge <= 0 {
				t.Errorf("CDRs %+v", cdrs)
			}
		})
	}
}
