package trigger_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/agi"
	"github.com/callbackd/callbackd/agi/agitest"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
	"github.com/callbackd/callbackd/tariff"
	"github.com/callbackd/callbackd/trigger"
)

// fixture is a store with accounts and access numbers, a FastAGI server
// running the trigger handler on 127.0.0.1, and the address to dial.
type fixture struct {
	t      *testing.T
	store  callback.Store
	engine *trigger.Engine
	addr   string
}

func newFixture(t *testing.T, st callback.Store, limits trigger.Limits) *fixture {
	t.Helper()
	if _, ok := st.(interface{ noAccountLimit() }); ok {
		limits.PerAccount = limiter.Limit{}
	}
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := callback.DefaultPolicy()
	svc := &callback.Service{Store: st, Policy: p}
	eng := trigger.NewEngine(st, svc, tariff.NewCache(st, time.Millisecond), limits, log)
	for _, c := range []callback.Currency{{Code: "USD", Rate: 1_000_000}, {Code: "EUR", Rate: 920_000}} {
		if err := st.PutCurrency(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []callback.Account{
		{Username: "801", Currency: "USD", Balance: 5 * callback.MoneyScale, MaxSessions: 2},
		{Username: "alice", Currency: "EUR", Balance: 10 * callback.MoneyScale, MaxSessions: 2},
		{Username: "poor", Currency: "EUR", Balance: callback.MoneyScale, MaxSessions: 2},
		{Username: "default", Currency: "USD", Balance: 1000 * callback.MoneyScale, MaxSessions: 100},
		{Username: "internal", Currency: "USD", Balance: 1000 * callback.MoneyScale, MaxSessions: 100},
		{Username: "18005550101", Currency: "USD", Balance: 10 * callback.MoneyScale, MaxSessions: 2, AssociatedNumber: "+420602123456"},
		{Username: "blocked", Currency: "USD", Balance: 10 * callback.MoneyScale, Blocked: true},
	} {
		if err := st.CreateAccount(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []callback.AccountCLI{{CLI: "4930111111", Username: "alice"}, {CLI: "4930222222", Username: "poor"}, {CLI: "4930333333", Username: "blocked"}} {
		if err := st.AddCLI(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.ImportRates(ctx, "cbtariff", []callback.TariffRate{
		{Tariff: "cbtariff", Prefix: "49", PricePerMinute: 100, FirstIncrement: 1, NextIncrement: 1},
		{Tariff: "cbtariff", Prefix: "4990", PricePerMinute: 100, FirstIncrement: 1, NextIncrement: 1, Blocked: true},
		{Tariff: "cbtariff", Prefix: "801", PricePerMinute: 100, FirstIncrement: 1, NextIncrement: 1},
	}, true); err != nil {
		t.Fatal(err)
	}
	srv := agi.NewServer(agiMux(eng, log), agi.WithLogger(log))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(sctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return &fixture{t: t, store: st, engine: eng, addr: ln.Addr().String()}
}

func agiMux(eng *trigger.Engine, log *slog.Logger) *agi.Mux {
	m := agi.NewMux()
	(&trigger.AGIHandler{Engine: eng, Log: log}).Register(m)
	return m
}

func (f *fixture) number(n callback.AccessNumber) {
	f.t.Helper()
	if err := n.Validate(); err != nil {
		f.t.Fatal(err)
	}
	n.ApplyDefaults()
	if err := f.store.PutAccessNumber(f.t.Context(), &n); err != nil {
		f.t.Fatal(err)
	}
}

// ring makes a call to an access number through the fake Asterisk.
func (f *fixture) ring(script, number, cli string, mutate ...func(*agitest.Call)) *agitest.Transcript {
	f.t.Helper()
	c := agitest.Call{URL: fmt.Sprintf("agi://%s/%s", f.addr, script), Args: []string{"number=" + number},
		CallerID: cli, CallerIDName: cli, DNID: number, Timeout: 10 * time.Second}
	for _, m := range mutate {
		m(&c)
	}
	tr, err := agitest.Dial(f.t.Context(), f.addr, c)
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	return tr
}

func (f *fixture) pending(cli string) *callback.Request {
	f.t.Helper()
	r, err := f.store.PendingForCLI(f.t.Context(), cli)
	if err != nil {
		return nil
	}
	return r
}

func ani(number string, opts ...func(*callback.AccessNumber)) callback.AccessNumber {
	n := callback.AccessNumber{Number: number, Trigger: callback.TriggerANI, SubApp: "callingcard", Language: "en",
		AnonymousAccounting: true, IsCallback: 6, ANumberHandling: 3}
	for _, o := range opts {
		o(&n)
	}
	return n
}

func testTriggers(t *testing.T, open func(t *testing.T) callback.Store) {
	t.Run("ANIKnownCaller", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.Region = "DE"; n.RingbackTime = 2 }))
		tr := f.ring("ani", "18005550100", "030 111111")
		if want := []string{"Ringing", "Wait 2", "PJSIPHangup 603"}; !slices.Equal(apps(tr), want) {
			t.Fatalf("EXEC %q, want %q", apps(tr), want)
		}
		if tr.SIPCode != 603 || tr.Answered {
			t.Fatalf("caller got SIP %d answered=%v; want an unanswered 603", tr.SIPCode, tr.Answered)
		}
		r := f.pending("4930111111")
		if r == nil || r.Username != "alice" || r.DefaultUserUsed || !r.AnonAcctEnabled || r.Source != callback.SourceANI ||
			r.AccessNumber != "18005550100" || r.OriginalCLD != "callingcard" {
			t.Fatalf("queued %+v", r)
		}
		// Ringback 2 s + Delay Before Callback 5 s.
		if d := time.Until(r.NextCall); d < 5*time.Second || d > 8*time.Second {
			t.Fatalf("next_call in %s, want about 7 s", d)
		}
		if tr.Variables[trigger.VarAction] != "callback" || tr.Variables[trigger.VarRequestID] != fmt.Sprint(r.ID) {
			t.Fatalf("variables %v", tr.Variables)
		}
	})

	t.Run("ANIDuplicateSuppressed", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100"))
		var ids []string
		for range 3 {
			tr := f.ring("ani", "18005550100", "801")
			ids = append(ids, tr.Variables[trigger.VarRequestID])
		}
		if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
			t.Fatalf("three rings gave requests %q; want one", ids)
		}
		reqs, err := f.store.ListRequests(t.Context(), callback.RequestFilter{CLI: "801"})
		if err != nil || len(reqs) != 1 {
			t.Fatalf("%d requests, %v", len(reqs), err)
		}
	})

	t.Run("ANIUnknownCallerDefaultAccount", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default"; n.HangupSIPCode = 486 }))
		tr := f.ring("ani", "18005550100", "87654321")
		if tr.SIPCode != 486 {
			t.Fatalf("SIP %d, want 486", tr.SIPCode)
		}
		r := f.pending("87654321")
		if r == nil || r.Username != "default" || !r.DefaultUserUsed {
			t.Fatalf("queued %+v", r)
		}
	})

	t.Run("ANIUnknownCallerNoDefault", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100"))
		tr := f.ring("ani", "18005550100", "87654321")
		if tr.SIPCode != 603 || f.pending("87654321") != nil || tr.Variables[trigger.VarAction] != "reject" {
			t.Fatalf("SIP %d vars %v", tr.SIPCode, tr.Variables)
		}
	})

	t.Run("ForceCLIAuthentication", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default"; n.ForceCLIAuthentication = true }))
		f.ring("ani", "18005550100", "87654321")
		if f.pending("87654321") != nil {
			t.Fatal("unknown CLI queued despite Force CLI Authentication")
		}
		f.ring("ani", "18005550100", "801")
		if r := f.pending("801"); r == nil || r.Username != "801" {
			t.Fatalf("known CLI: %+v", r)
		}
	})

	t.Run("ForceDefaultAccount", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default"; n.ForceDefaultAccount = true }))
		f.ring("ani", "18005550100", "801")
		if r := f.pending("801"); r == nil || r.Username != "default" || !r.DefaultUserUsed || r.Payer != "801" {
			t.Fatalf("queued %+v", r)
		}
	})

	t.Run("DisableCLIAuthentication", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) {
			n.DefaultAccountUsername = "default"
			n.DisableCLIAuthentication = true
		}))
		f.ring("ani", "18005550100", "801")
		if r := f.pending("801"); r == nil || r.Username != "default" || !r.DefaultUserUsed {
			t.Fatalf("queued %+v", r)
		}
	})

	t.Run("MinimumBalanceWithCurrency", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		// 2 USD is 1.84 EUR: alice (10 EUR) passes, poor (1 EUR) falls back.
		f.number(ani("18005550100", func(n *callback.AccessNumber) {
			n.Region = "DE"
			n.DefaultAccountUsername = "default"
			n.MinimumBalance = "2 USD"
		}))
		f.ring("ani", "18005550100", "+4930111111")
		f.ring("ani", "18005550100", "+4930222222")
		if r := f.pending("4930111111"); r == nil || r.Username != "alice" {
			t.Fatalf("alice: %+v", r)
		}
		if r := f.pending("4930222222"); r == nil || r.Username != "default" || !r.DefaultUserUsed {
			t.Fatalf("poor: %+v", r)
		}
	})

	t.Run("FixedCLIAndRingbackEarlyMedia", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) {
			n.FixedCLI = "18005550199"
			n.RingbackTime = 1
			n.RingbackType = callback.RingbackEarlyMedia
			n.HangupSIPCode = 480
		}))
		tr := f.ring("ani", "18005550100", "801")
		if want := []string{"Progress", "Playtones ring", "Wait 1", "StopPlaytones", "PJSIPHangup 480"}; !slices.Equal(apps(tr), want) {
			t.Fatalf("EXEC %q, want %q", apps(tr), want)
		}
		if r := f.pending("801"); r == nil || r.OriginalSetCLI != "18005550199" {
			t.Fatalf("queued %+v", r)
		}
	})

	t.Run("NonPJSIPChannelGetsMappedCause", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.HangupSIPCode = 486 }))
		tr := f.ring("ani", "18005550100", "801", func(c *agitest.Call) { c.Type = "IAX2"; c.Channel = "IAX2/peer-1" })
		if want := []string{"Hangup 17"}; !slices.Equal(apps(tr), want) {
			t.Fatalf("EXEC %q, want %q", apps(tr), want)
		}
	})

	t.Run("RejectInDialplan", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.RingbackTime = 1; n.HangupSIPCode = 486 }))
		f.number(ani("18005550107", func(n *callback.AccessNumber) {
			n.DefaultAccountUsername, n.IsCallback, n.ANumberHandling = "default", 1, 0
		}))
		dialplan := func(c *agitest.Call) { c.Args = append(c.Args, "reject=dialplan") }
		// The callback is queued and the ringback played as before; the
		// hang-up is left to the dialplan, with the code in the variables
		// set by the one MSet.
		tr := f.ring("ani", "18005550100", "801", dialplan)
		if want := []string{"Ringing", "Wait 1"}; !slices.Equal(apps(tr), want) {
			t.Fatalf("EXEC %q, want %q", apps(tr), want)
		}
		if tr.SIPCode != 0 || tr.Answered || tr.HungUp {
			t.Fatalf("SIP %d answered=%v hung up=%v: callbackd must leave the unanswered call to the dialplan", tr.SIPCode, tr.Answered, tr.HungUp)
		}
		v := tr.Variables
		if r := f.pending("801"); r == nil || v[trigger.VarAction] != "callback" || v[trigger.VarRequestID] != fmt.Sprint(r.ID) ||
			v[trigger.VarSIPCode] != "486" || v[trigger.VarHangupCause] != "17" {
			t.Fatalf("variables %v, queued %+v", v, r)
		}
		if n := len(tr.Exec()) - len(apps(tr)); n != 1 {
			t.Fatalf("%d MSet, want the variables in one: %q", n, tr.Exec())
		}
		// As a query parameter, for a caller refused: the default code.
		tr = f.ring("ani?reject=dialplan", "18005550100", "", func(c *agitest.Call) { c.CallingPres = 32 })
		if v := tr.Variables; v[trigger.VarAction] != "reject" || v[trigger.VarSIPCode] != "486" || tr.SIPCode != 0 || len(apps(tr)) != 2 {
			t.Fatalf("refused caller: variables %v, EXEC %q, SIP %d", v, tr.Exec(), tr.SIPCode)
		}
		// The IVR: no hang-up at all, so no code.
		tr = f.ring("ani", "18005550107", "87654321", dialplan)
		if v := tr.Variables; v[trigger.VarAction] != "ivr" || v[trigger.VarSIPCode] != "" || v[trigger.VarHangupCause] != "" || tr.SIPCode != 0 {
			t.Fatalf("IVR: variables %v, SIP %d", v, tr.SIPCode)
		}
		// Any other value: callbackd hangs up itself, as without it.
		tr = f.ring("ani", "18005550100", "87654322", func(c *agitest.Call) { c.Args = append(c.Args, "reject=asterisk") })
		if want := []string{"Ringing", "Wait 1", "PJSIPHangup 486"}; !slices.Equal(apps(tr), want) || tr.Variables[trigger.VarSIPCode] != "" {
			t.Fatalf("reject=asterisk: EXEC %q, variables %v", apps(tr), tr.Variables)
		}
	})

	t.Run("AnonymousAndWithheldRejected", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default" }))
		for _, cli := range []string{"unknown", "anonymous", ""} {
			tr := f.ring("ani", "18005550100", cli)
			if tr.Variables[trigger.VarAction] != "reject" || tr.SIPCode != 603 {
				t.Errorf("CLI %q: %v, SIP %d", cli, tr.Variables, tr.SIPCode)
			}
		}
		tr := f.ring("ani", "18005550100", "801", func(c *agitest.Call) { c.CallingPres = 32 })
		if tr.Variables[trigger.VarAction] != "reject" || f.pending("801") != nil {
			t.Errorf("withheld CLI: %v", tr.Variables)
		}
	})

	t.Run("CallbackTariffLimitsPrefixes", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default"; n.CallbackTariff = "cbtariff" }))
		f.ring("ani", "18005550100", "4990123456") // blocked premium prefix
		f.ring("ani", "18005550100", "870772123")  // no rate: Inmarsat
		f.ring("ani", "18005550100", "4930999999") // allowed
		if f.pending("4990123456") != nil || f.pending("870772123") != nil || f.pending("4930999999") == nil {
			t.Fatal("callback tariff not applied")
		}
	})

	t.Run("BlockedAccountRejected", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default" }))
		f.ring("ani", "18005550100", "4930333333")
		if f.pending("4930333333") != nil {
			t.Fatal("blocked account's CLI queued")
		}
	})

	t.Run("DNIS", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(callback.AccessNumber{Number: "18005550101", Trigger: callback.TriggerDNIS, SubApp: "callingcard", AnonymousAccounting: true})
		tr := f.ring("dnis", "18005550101", "unknown") // any CLI, even none
		if tr.SIPCode != 603 {
			t.Fatalf("SIP %d", tr.SIPCode)
		}
		r := f.pending("420602123456")
		if r == nil || r.Username != "18005550101" || r.Source != callback.SourceDNIS {
			t.Fatalf("queued %+v", r)
		}
	})

	t.Run("PIN", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(callback.AccessNumber{Number: "18005550102", Trigger: callback.TriggerPIN, SubApp: "callingcard", InternalAccount: "internal"})
		f.ring("pin", "18005550102", "87654321")
		r := f.pending("87654321")
		if r == nil || r.Username != "internal" || !r.AskPIN || r.Source != callback.SourcePIN {
			t.Fatalf("queued %+v", r)
		}
	})

	t.Run("CLDRules", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550103", func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default" }))
		c := func(rule string) func(*agitest.Call) { return func(c *agitest.Call) { c.Args = append(c.Args, rule) } }
		f.ring("cld", "18005550103", "801", c("ani_2way_12345"))
		if r := f.pending("801"); r == nil || r.OriginalCLD != "2way_12345" || !r.AnonAcctEnabled || r.Source != callback.SourceCLD {
			t.Fatalf("ani_2way_12345: %+v", r)
		}
		f.ring("cld", "18005550103", "87654321", c("ani_noanonacct_callingcard_en_th"))
		if r := f.pending("87654321"); r == nil || r.OriginalCLD != "callingcard_en_th" || r.AnonAcctEnabled {
			t.Fatalf("ani_noanonacct_callingcard_en_th: %+v", r)
		}
		// Sippy style: the translation rule rewrote the dialled number, which
		// is then no access number of ours: the CLD rule's defaults apply.
		f.engine.Fallback.DefaultAccountUsername = "default"
		tr := f.ring("cld", "ani_2way_999", "4930555555", func(c *agitest.Call) { c.Args = nil })
		if r := f.pending("4930555555"); r == nil || r.OriginalCLD != "2way_999" || r.Username != "default" {
			t.Fatalf("rewritten CLD: %+v (%v)", r, tr.Variables)
		}
		tr = f.ring("cld", "18005550103", "4930666666", c("ani_bogus_x"))
		if tr.Variables[trigger.VarAction] != "reject" || f.pending("4930666666") != nil {
			t.Fatalf("bad rule: %v", tr.Variables)
		}
	})

	t.Run("MizuModes", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.Limits{}) // no limits: 801 rings many times
		tests := []struct {
			iscallback int
			cli        string
			want       string
		}{
			{2, "801", "callback"}, {2, "87654321", "ivr"},
			{3, "801", "ivr"}, {3, "87654322", "callback"},
			{4, "801", "callback"}, {4, "87654323", "reject"},
			{5, "801", "reject"}, {5, "87654324", "callback"},
			{6, "87654325", "callback"}, {7, "801", "ivr"},
		}
		for i, tt := range tests {
			number := fmt.Sprintf("1800555020%d", i)
			f.number(ani(number, func(n *callback.AccessNumber) { n.DefaultAccountUsername = "default"; n.IsCallback = tt.iscallback }))
			if r := f.pending(tt.cli); r != nil {
				if _, err := f.store.Cancel(t.Context(), r.ID, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			tr := f.ring("ani", number, tt.cli)
			if got := tr.Variables[trigger.VarAction]; got != tt.want {
				t.Errorf("iscallback %d, CLI %s: %s (%s), want %s", tt.iscallback, tt.cli, got, tr.Variables[trigger.VarReason], tt.want)
			}
			if tt.want == "ivr" && (tr.HungUp || len(apps(tr)) != 0) {
				t.Errorf("iscallback %d: IVR call was hung up: %q", tt.iscallback, apps(tr))
			}
		}
		// anumberhandling 1 (only add): a known A number does not authenticate.
		f.number(ani("18005550299", func(n *callback.AccessNumber) { n.IsCallback = 2; n.ANumberHandling = 1 }))
		if tr := f.ring("ani", "18005550299", "801"); tr.Variables[trigger.VarAction] != "ivr" {
			t.Errorf("anumberhandling 1: %v", tr.Variables)
		}
	})

	t.Run("RateLimitPerCLI", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.Limits{PerCLI: limiter.Limit{Every: time.Hour, Burst: 2}})
		f.number(ani("18005550100"))
		var actions []string
		for range 3 {
			tr := f.ring("ani", "18005550100", "801")
			actions = append(actions, tr.Variables[trigger.VarAction])
			if r := f.pending("801"); r != nil {
				if _, err := f.store.Cancel(t.Context(), r.ID, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}
		if want := []string{"callback", "callback", "reject"}; !slices.Equal(actions, want) {
			t.Fatalf("actions %q, want %q", actions, want)
		}
	})

	t.Run("UnknownAccessNumber", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		tr := f.ring("ani", "999", "801")
		if tr.SIPCode != 404 || !strings.Contains(tr.Variables[trigger.VarReason], "not an access number") {
			t.Fatalf("SIP %d, %v", tr.SIPCode, tr.Variables)
		}
	})

	t.Run("CallerHangsUpDuringRingback", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.RingbackTime = 1 }))
		tr := f.ring("ani", "18005550100", "801", func(c *agitest.Call) { c.Hangup.BeforeReply = 4 }) // GET, MSet, Ringing, then Wait
		if tr.HangupBy != "caller" {
			t.Fatalf("hangup by %q", tr.HangupBy)
		}
		// The callback was queued before the ringback, as a missed call is
		// exactly a caller who hangs up while it rings.
		if f.pending("801") == nil {
			t.Fatal("no callback queued")
		}
	})

	t.Run("NoRingbackWaitAfterTheCallerHungUp", func(t *testing.T) {
		f := newFixture(t, open(t), trigger.DefaultLimits())
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.RingbackTime = 1 }))
		dry := f.ring("ani", "18005550100", "801")
		ringing := slices.IndexFunc(dry.Commands, func(c agitest.Command) bool { return c.Line == "EXEC Ringing" }) + 1
		if ringing == 0 {
			t.Fatalf("no EXEC Ringing in %q", apps(dry))
		}
		// On a hung-up channel Asterisk sleeps a whole Wait: the handler
		// must not send one once it has seen the HANGUP. (The HANGUP line
		// comes before Ringing's reply, so the session has read it when
		// the reply arrives.)
		f.number(ani("18005550100", func(n *callback.AccessNumber) { n.RingbackTime = 30 }))
		tr := f.ring("ani", "18005550100", "4930111111", func(c *agitest.Call) { c.Hangup.BeforeReply = ringing })
		if slices.Contains(apps(tr), "Wait 30") {
			t.Fatalf("EXEC %q: Wait sent after the caller hung up", apps(tr))
		}
	})
}

// apps lists the dialplan applications a call ran, but MSet: the
// variables are checked on their own, the rest is what the caller hears.
func apps(tr *agitest.Transcript) []string {
	var out []string
	for _, e := range tr.Exec() {
		if !strings.HasPrefix(e, "MSet ") {
			out = append(out, e)
		}
	}
	return out
}
